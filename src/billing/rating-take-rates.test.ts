import fc from 'fast-check';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPGliteStore, type Store } from '../store/index.ts';
import { Decimal, formatMoney } from '../util/money.ts';
import {
  type PercentagePrice,
  rateTransactions,
  type TakeRateTotals,
  takeRateSql,
} from './rating-take-rates.ts';

const usd = (t: TakeRateTotals) => formatMoney(t.amount, 'USD');
const values = (...amounts: (number | string)[]) => amounts.map((value) => ({ value }));

describe('take rates: published worked examples', () => {
  it('Lago percentage: 1.2% + $0.10, the first 3 events or $500 free; a 4th event of $50 pays $0.70', () => {
    // getlago.com/docs/guide/plans/charges/charge-models/percentage ("the first 3 events or $500 are
    // free": $200, $100, $100 free; "for the fourth transaction, the charge will be $0.10 x 1 event
    // + 1.2% of $50 = $0.70").
    const price: PercentagePrice = {
      type: 'percentage',
      rate: '1.2',
      fixedFee: '0.10',
      freeTransactions: 3,
      freeAmount: '500',
    };
    expect(rateTransactions(price, values(200, 100, 100, 50))).toEqual({
      transactions: '4',
      volume: '450',
      amount: '0.7',
    });
  });

  it('Lago per-transaction template (Stripe card pricing): 2.9% + $0.30 per card charge', () => {
    // getlago.com/docs/templates/per-transaction/stripe: online card payments 2.9% + $0.30.
    const price: PercentagePrice = { type: 'percentage', rate: '2.9', fixedFee: '0.30' };
    // $100 → $3.20; $10 → $0.59; $1,000 → $29.30: $33.09 in all.
    expect(usd(rateTransactions(price, values(100, 10, 1000)))).toBe('33.09');
  });

  it('per-transaction minimum and maximum clamp each transaction, not the period', () => {
    // lago-api percentage_service.rb apply_min_max: each event's amount is clamped on its own.
    const price: PercentagePrice = {
      type: 'percentage',
      rate: '1',
      minimumPerTransaction: '0.50',
      maximumPerTransaction: '5.00',
    };
    // $10 → 0.10 → min 0.50; $200 → 2.00; $10,000 → 100 → max 5.00.
    expect(usd(rateTransactions(price, values(10, 200, 10_000)))).toBe('7.50');
  });

  it('a free amount: the transaction that crosses it pays the rate on its part above, plus its fee', () => {
    const price: PercentagePrice = { type: 'percentage', rate: '2', fixedFee: '0.25', freeAmount: '150' };
    // $100 free; $100 crosses at $150: 2% of $50 + $0.25 = $1.25; $100 → $2.25.
    expect(usd(rateTransactions(price, values(100, 100, 100)))).toBe('3.50');
  });

  it('free transactions are not raised to the minimum, and order follows the transaction times', () => {
    const price: PercentagePrice = {
      type: 'percentage',
      rate: '1',
      minimumPerTransaction: '1.00',
      freeTransactions: 1,
    };
    const txs = [
      { value: 500, time: '2026-01-02T00:00:00Z' },
      { value: 10, time: '2026-01-01T00:00:00Z' },
    ];
    // The $10 transaction came first: free. $500 → $5.00.
    expect(usd(rateTransactions(price, txs))).toBe('5.00');
  });
});

describe('take rates in the store: one SQL aggregate, the same result as the rule in JS', () => {
  let store: Store;
  beforeAll(async () => {
    store = await openPGliteStore();
  }, 180_000);
  afterAll(async () => {
    await store.close();
  });

  async function inSql(price: PercentagePrice, txs: { value: string; time: string }[]) {
    const json = JSON.stringify(txs);
    const rows = sql`(select * from json_to_recordset(${json}::json) as t(time timestamptz, value numeric)) tx`;
    const { rows: found } = await takeRateSql(rows, price).execute(store.db);
    expect(found).toHaveLength(1);
    return found[0] as TakeRateTotals;
  }

  async function inSqlBySubject(
    price: PercentagePrice,
    txs: { value: string; time: string; subject: string }[],
  ) {
    const json = JSON.stringify(txs);
    const rows = sql`(select * from json_to_recordset(${json}::json) as t(subject text, time timestamptz, value numeric)) tx`;
    const { rows: found } = await takeRateSql(rows, price, true).execute(store.db);
    return new Map(found.map((r) => [r.subject, r]));
  }

  it('property: SQL and JS agree to the last digit, for any price and transactions', async () => {
    const money = (max: number) =>
      fc.integer({ min: 0, max }).map((cents) => new Decimal(cents).div(100).toString());
    const priceArb = fc.record(
      {
        rate: fc.integer({ min: 0, max: 1000 }).map((bp) => new Decimal(bp).div(100).toString()),
        fixedFee: money(100),
        minimumPerTransaction: money(200),
        maximumPerTransaction: money(5000),
        freeTransactions: fc.integer({ min: 1, max: 5 }),
        freeAmount: money(50_000),
      },
      { requiredKeys: ['rate'] },
    );
    const txArb = fc.array(
      fc.record({ value: money(100_000), time: fc.integer({ min: 0, max: 1_000_000 }) }),
      { maxLength: 30 },
    );
    await fc.assert(
      fc.asyncProperty(priceArb, txArb, async (partial, raw) => {
        const price = { type: 'percentage', ...partial } as PercentagePrice;
        if (
          price.minimumPerTransaction !== undefined &&
          price.maximumPerTransaction !== undefined &&
          new Decimal(price.minimumPerTransaction).gt(price.maximumPerTransaction)
        )
          return;
        const txs = raw.map((t) => ({
          value: t.value,
          time: new Date(Date.UTC(2026, 0, 1) + t.time * 1000).toISOString(),
        }));
        const js = rateTransactions(price, txs);
        const sql = await inSql(price, txs);
        expect(new Decimal(sql.amount).eq(js.amount)).toBe(true);
        expect(new Decimal(sql.volume).eq(js.volume)).toBe(true);
        expect(sql.transactions).toBe(js.transactions);
        // Every customer at once (the billing run's pass): each subject's own allowance and order.
        const subjects = txs.map((t, i) => ({ ...t, subject: i % 3 === 0 ? 'a' : 'b' }));
        const grouped = await inSqlBySubject(price, subjects);
        for (const who of ['a', 'b']) {
          const own = rateTransactions(
            price,
            subjects.filter((t) => t.subject === who),
          );
          const row = grouped.get(who) ?? { amount: '0', volume: '0', transactions: '0' };
          expect(new Decimal(row.amount).eq(own.amount)).toBe(true);
          expect(row.transactions).toBe(own.transactions);
        }
        // Never negative, and each paying transaction costs at most the maximum.
        expect(new Decimal(js.amount).gte(0)).toBe(true);
      }),
      { seed: 42, numRuns: 120 },
    );
  }, 120_000);
});
