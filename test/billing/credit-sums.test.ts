import { afterAll, describe, expect, it } from 'vitest';
import type { Store } from '../../src/store/index.ts';
import { openTestPostgres } from '../support/postgres.ts';
import { DAY, openHarness } from './harness.ts';

/**
 * Balances and grant remainders are read from running sums that a trigger keeps next to the
 * ledger (migration 0505). Whatever mix of movements happens, they equal the ledger's own sums.
 */
async function sumsMatchLedger(store: Store) {
  const balances = await store.query<{
    customer_id: string;
    currency: string;
    kept: string;
    summed: string;
  }>(`select l.customer_id, l.currency, coalesce(b.balance, 0)::text as kept, sum(l.amount)::text as summed
     from billing_credit_ledger l
     left join billing_credit_balances b on b.customer_id = l.customer_id and b.currency = l.currency
     group by l.customer_id, l.currency, b.balance`);
  const grants = await store.query<{
    id: string;
    kept: string;
    summed: string;
  }>(`select g.id, r.remaining::text as kept,
            (g.amount + coalesce((select sum(c.amount) from billing_credit_ledger c where c.grant_id = g.id), 0))::text as summed
     from billing_credit_ledger g
     left join billing_credit_grant_remaining r on r.grant_id = g.id
     where g.kind in ('grant', 'topup')`);
  return { balances, grants };
}

const pg = await openTestPostgres();
afterAll(() => pg.drop());

describe.each([
  ['PGlite', undefined],
  ['PostgreSQL', pg.store],
] as const)('credit sums on %s', (_name, store) => {
  it('equal the ledger after grants, reservations, settlements, an invoice drawdown and expiry', async () => {
    const h = await openHarness(store ? { store } : {});
    const credits = h.billing.service.credits;
    const a = await h.customers.create({ name: 'Sums A', email: 'sums-a@example.com' });
    const b = await h.customers.create({ name: 'Sums B', email: 'sums-b@example.com' });
    await credits.configure({ customerId: a.id, currency: 'USD', creditsOnly: true });
    await credits.grant({
      customerId: a.id,
      currency: 'USD',
      amount: '10.00',
      expiresAt: new Date(h.clock.now().getTime() + 2 * DAY),
    });
    await credits.grant({ customerId: a.id, currency: 'USD', amount: '25.00' });
    await credits.grant({ customerId: b.id, currency: 'EUR', amount: '7.50' });
    for (let i = 0; i < 30; i++) {
      const { reservationId } = await credits.reserve({ customerId: a.id, currency: 'USD', amount: '0.50' });
      await credits.settle({ reservationId, actual: (0.05 * (i % 7)).toFixed(2) });
    }
    await h.store.db
      .transaction()
      .execute((tx) =>
        credits.drawdown(tx, { customerId: b.id, currency: 'EUR', amount: '2.25', invoiceId: 'inv_sums' }),
      );
    h.clock.advance(3 * DAY);
    await credits.expireDue();

    const { balances, grants } = await sumsMatchLedger(h.store);
    expect(balances.length).toBeGreaterThanOrEqual(2);
    for (const r of balances) expect(r.kept, `${r.customer_id} ${r.currency}`).toBe(r.summed);
    expect(grants.length).toBeGreaterThanOrEqual(3);
    for (const g of grants) expect(g.kept, g.id).toBe(g.summed);
    const [ledgerA] = await h.store.query<{ s: string }>(
      `select sum(amount)::text as s from billing_credit_ledger where customer_id = $1 and currency = 'USD'`,
      [a.id],
    );
    expect(Number(await credits.balance(a.id, 'USD'))).toBe(Number(ledgerA?.s));
    expect(await credits.balance(b.id, 'EUR')).toBe('5.25');
  });
});
