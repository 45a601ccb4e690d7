import { afterAll, describe, expect, it } from 'vitest';
import type { CreditEntry, CreditsService } from '../../src/billing/credits.ts';
import type { Store } from '../../src/store/index.ts';
import { Decimal, formatMoney } from '../../src/util/money.ts';
import { openTestPostgres } from '../support/postgres.ts';
import { DAY, openHarness } from './harness.ts';

const HOUR = 3_600_000;

/**
 * What the Credits page shows of one currency, worked out from the whole ledger: the reservations
 * without their `release:<reservation id>`, the soonest-expiring grant with something left, and
 * the newest entries without reservations and their releases.
 */
async function fromLedger(
  store: Store,
  credits: CreditsService,
  customerId: string,
  currency: string,
  now: Date,
  recent: number,
) {
  const entries = await credits.ledger(customerId, currency);
  const keys = new Map(
    (
      await store.query<{ id: string; idempotency_key: string | null }>(
        'select id, idempotency_key from billing_credit_ledger where customer_id = $1',
        [customerId],
      )
    ).map((r) => [r.id, r.idempotency_key]),
  );
  const released = new Set([...keys.values()].filter((k) => k?.startsWith('release:')));
  const held = entries
    .filter((e) => e.kind === 'reservation' && !released.has(`release:${e.id}`))
    .reduce((sum, e) => sum.sub(e.amount), new Decimal(0));
  const remaining = (g: CreditEntry) =>
    entries.filter((e) => e.grantId === g.id).reduce((sum, e) => sum.add(e.amount), new Decimal(g.amount));
  const expiring = entries
    .filter((e) => (e.kind === 'grant' || e.kind === 'topup') && e.expiresAt && new Date(e.expiresAt) > now)
    .filter((g) => remaining(g).gt(0))
    .sort((a, b) => Date.parse(a.expiresAt!) - Date.parse(b.expiresAt!))[0];
  const shown = entries.filter(
    (e) => e.kind !== 'reservation' && !(e.kind === 'release' && keys.get(e.id)?.startsWith('release:')),
  );
  return {
    currency,
    balance: formatMoney(
      entries.reduce((sum, e) => sum.add(e.amount), new Decimal(0)),
      currency,
    ),
    held: formatMoney(held, currency),
    nextExpiry: expiring
      ? {
          grantId: expiring.id,
          amount: formatMoney(remaining(expiring), currency),
          expiresAt: expiring.expiresAt,
        }
      : null,
    recent: shown.slice(-recent).reverse(),
  };
}

const pg = await openTestPostgres();
afterAll(() => pg.drop());

describe.each([
  ['PGlite', undefined],
  ['PostgreSQL', pg.store],
] as const)('a credits account on %s', (_name, store) => {
  it('equals what the whole ledger says: held, next expiry, newest entries without holds', async () => {
    const h = await openHarness(store ? { store } : {});
    const credits = h.billing.service.credits;
    const at = (ms: number) => new Date(h.clock.now().getTime() + ms);
    const a = await h.customers.create({ name: 'Account A', email: 'account-a@example.com' });
    const b = await h.customers.create({ name: 'Account B', email: 'account-b@example.com' });
    await credits.configure({ customerId: a.id, currency: 'USD', creditsOnly: true });

    const soon = await credits.grant({
      customerId: a.id,
      currency: 'USD',
      amount: '1.00',
      expiresAt: at(3 * HOUR),
    });
    const first = await credits.grant({
      customerId: a.id,
      currency: 'USD',
      amount: '10.00',
      expiresAt: at(2 * DAY),
    });
    const second = await credits.grant({
      customerId: a.id,
      currency: 'USD',
      amount: '5.00',
      expiresAt: at(5 * DAY),
    });
    await credits.grant({ customerId: a.id, currency: 'USD', amount: '3.00', expiresAt: at(5 * DAY) });
    await credits.grant({ customerId: a.id, currency: 'USD', amount: '20.00', kind: 'topup' });
    await credits.grant({ customerId: a.id, currency: 'EUR', amount: '4.00' });
    await credits.grant({ customerId: b.id, currency: 'GBP', amount: '6.00', expiresAt: at(DAY) });

    // 140 settled calls, every fifth of them free (its holds are all it leaves): 9.80 of usage,
    // all of the 1.00 expiring first and 8.80 of the next.
    for (let i = 0; i < 140; i++) {
      const { reservationId } = await credits.reserve({ customerId: a.id, currency: 'USD', amount: '0.50' });
      await credits.settle({ reservationId, actual: (0.035 * (i % 5)).toFixed(3) });
    }
    // Calls in flight.
    for (const amount of ['0.50', '0.25', '1.00']) {
      await credits.reserve({ customerId: a.id, currency: 'USD', amount });
    }
    // An invoice takes the 1.20 left of the 10.00 and 1.30 of the 5.00.
    await h.store.db
      .transaction()
      .execute((tx) =>
        credits.drawdown(tx, { customerId: a.id, currency: 'USD', amount: '2.50', invoiceId: 'inv_account' }),
      );
    // A grant that expired an hour ago, its expiry row not yet written.
    await credits.grant({ customerId: a.id, currency: 'USD', amount: '2.00', expiresAt: at(HOUR) });
    h.clock.advance(2 * HOUR);

    const now = h.clock.now();
    const account = await credits.account(a.id, 'USD');
    expect(account).toEqual(await fromLedger(h.store, credits, a.id, 'USD', now, 100));
    expect(account.held).toBe('1.75');
    // The 1.00 expiring soonest is used up and the 10.00 too: the 5.00, older than the 3.00 expiring with it.
    expect(account.nextExpiry).toEqual({ grantId: second.id, amount: '3.70', expiresAt: second.expiresAt });
    expect(account.recent).toHaveLength(100);
    expect(account.recent.some((e) => e.kind === 'reservation' || e.kind === 'release')).toBe(false);
    expect(account.recent[0]).toMatchObject({ kind: 'grant', amount: '2' });
    expect(await credits.account(a.id, 'USD', { recent: 7 })).toEqual(
      await fromLedger(h.store, credits, a.id, 'USD', now, 7),
    );
    const everything = await credits.account(a.id, 'USD', { recent: 10_000 });
    expect(everything).toEqual(await fromLedger(h.store, credits, a.id, 'USD', now, 10_000));
    expect(everything.recent.slice(-2).map((e) => e.id)).toEqual([first.id, soon.id]);

    // The expiry job releases the calls that never settled and writes the expired grant's row.
    await credits.expireDue();
    const after = await credits.account(a.id, 'USD');
    expect(after).toEqual(await fromLedger(h.store, credits, a.id, 'USD', now, 100));
    expect(after.held).toBe('0.00');
    expect(after.recent[0]).toMatchObject({ kind: 'expiry', amount: '-2' });

    expect(await credits.account(a.id, 'EUR')).toEqual(
      await fromLedger(h.store, credits, a.id, 'EUR', now, 100),
    );
    expect(await credits.account(b.id, 'USD')).toEqual({
      currency: 'USD',
      balance: '0.00',
      held: '0.00',
      nextExpiry: null,
      recent: [],
    });
    expect(await credits.currencies(a.id)).toEqual(['USD', 'EUR']);
    expect(await credits.currencies(b.id)).toEqual(['GBP']);
    expect(await credits.currencies('cus_nobody')).toEqual([]);
  });
});
