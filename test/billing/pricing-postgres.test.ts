import fc from 'fast-check';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SandboxRail } from '../../src/billing/index.ts';
import { type PercentagePrice, rateTransactions, takeRateSql } from '../../src/billing/rating-take-rates.ts';
import { Decimal } from '../../src/util/money.ts';
import { openTestPostgres } from '../support/postgres.ts';
import { type Harness, openHarness } from './harness.ts';

/** Coupons and the take-rate aggregate on PostgreSQL (the embedded store's tests run them on PGlite). */
let h: Harness;
let drop: () => Promise<void>;

beforeAll(async () => {
  const pg = await openTestPostgres();
  drop = pg.drop;
  h = await openHarness({ store: pg.store });
}, 60_000);
afterAll(async () => {
  await drop?.();
});

describe('pricing on PostgreSQL', () => {
  it('a coupon redeemed by an operator discounts the billing run’s invoice, which is paid', async () => {
    await h.billing.service.discounts.createCoupon({ code: 'PG25', percentOff: '25', duration: 'forever' });
    const customer = await h.customers.create({ name: 'PG coupon', email: 'pg-coupon@example.com' });
    const sub = await h.subscriptions.subscribe({ customerId: customer.id, planKey: 'pro' });
    await h.billing.service.attachCard(customer.id, '4242424242424242');
    await h.billing.service.discounts.redeem({ code: 'pg25', customerId: customer.id, currency: 'USD' });
    h.clock.set('2026-02-01T00:00:05Z');
    await h.billing.service.runBilling();
    await (h.billing.rail as SandboxRail).drain();
    const [invoice] = await h.billing.service.list({ subscriptionId: sub.id });
    expect(invoice).toMatchObject({ status: 'paid', total: '36.75' });
    expect(invoice?.lines.map((l) => [l.kind, l.amount])).toEqual([
      ['flat', '49.00'],
      ['discount', '-12.25'],
    ]);
  });

  it('property: the take-rate aggregate agrees with the rule in JS, per customer', async () => {
    const cents = (max: number) => fc.integer({ min: 0, max }).map((c) => new Decimal(c).div(100).toString());
    await fc.assert(
      fc.asyncProperty(
        fc.record(
          {
            rate: fc.integer({ min: 0, max: 1000 }).map((bp) => new Decimal(bp).div(100).toString()),
            fixedFee: cents(100),
            minimumPerTransaction: cents(100),
            freeTransactions: fc.integer({ min: 1, max: 4 }),
            freeAmount: cents(20_000),
          },
          { requiredKeys: ['rate'] },
        ),
        fc.array(
          fc.record({
            value: cents(50_000),
            t: fc.integer({ min: 0, max: 100_000 }),
            who: fc.constantFrom('a', 'b'),
          }),
          { maxLength: 25 },
        ),
        async (partial, raw) => {
          const price = { type: 'percentage', ...partial } as PercentagePrice;
          const txs = raw.map((r) => ({
            subject: r.who,
            value: r.value,
            time: new Date(Date.UTC(2026, 0, 1) + r.t * 1000).toISOString(),
          }));
          const json = JSON.stringify(txs);
          const rows = sql`(select * from json_to_recordset(${json}::json) as t(subject text, time timestamptz, value numeric)) tx`;
          const { rows: found } = await takeRateSql(rows, price, true).execute(h.store.db);
          for (const who of ['a', 'b']) {
            const js = rateTransactions(
              price,
              txs.filter((t) => t.subject === who),
            );
            const row = found.find((f) => f.subject === who);
            expect(new Decimal(row?.amount ?? 0).eq(js.amount)).toBe(true);
          }
        },
      ),
      { seed: 42, numRuns: 60 },
    );
  }, 120_000);
});
