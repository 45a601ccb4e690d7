import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { meterUsagePort } from '../../src/billing/adapters.ts';
import {
  type PercentagePrice,
  rateTransactions,
  type TakeRateTotals,
} from '../../src/billing/rating-take-rates.ts';
import { resolveConfig } from '../../src/config/index.ts';
import type { UsageEvent } from '../../src/metering/events.ts';
import { type Metering, startMetering } from '../../src/metering/index.ts';
import { migrate, openPGliteStore, type Store } from '../../src/store/index.ts';
import { ManualClock } from '../../src/util/clock.ts';
import { silentLogger } from '../../src/util/log.ts';
import { Decimal } from '../../src/util/money.ts';
import { openTestPostgres } from '../support/postgres.ts';

/**
 * Issue 15: one customer's take rate (the upcoming-invoice preview) is read from the customer's
 * own value chunks plus the chunks not compacted yet (src/metering/subject-values.ts), not by
 * unpacking every chunk of the period. Whatever the mix of compacted and waiting chunks, it must
 * equal the JS rule (billing's rateTransactions) over the customer's events, and the billing
 * run's every-customer aggregate.
 */
const PRICE: PercentagePrice = { type: 'percentage', rate: '2.9', fixedFee: '0.30', freeTransactions: 3 };
let store: Store;
let metering: Metering;
let dataDir: string;
let drop: () => Promise<void>;
const clock = new ManualClock('2026-03-01T00:00:00Z');

/** The embedded store, and PostgreSQL (where compaction's `for update skip locked` also runs). */
const STORES: [string, () => Promise<{ store: Store; drop: () => Promise<void> }>][] = [
  [
    'embedded',
    async () => {
      const store = await openPGliteStore();
      return { store, drop: () => store.close() };
    },
  ],
  ['PostgreSQL', openTestPostgres],
];

describe.each(STORES)('%s store', (_name, open) => {
  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'tollgate-subject-values-'));
    const opened = await open();
    store = opened.store;
    drop = opened.drop;
    await migrate(store);
    const config = resolveConfig(
      {
        upstream: 'http://127.0.0.1:9',
        meters: [
          {
            slug: 'payments',
            eventType: 'payment',
            aggregation: 'SUM',
            valueProperty: '$.amount',
            groupBy: { method: '$.method' },
          },
        ],
        features: [
          {
            key: 'card_volume',
            name: 'Card payments',
            meter: 'payments',
            meterGroupByFilters: { method: 'card' },
          },
        ],
        plans: [
          {
            key: 'payments',
            name: 'Payments',
            rateCards: [{ key: 'card_fees', name: 'Card processing', feature: 'card_volume', price: PRICE }],
          },
        ],
      },
      'test.config.ts',
      dataDir,
    );
    metering = await startMetering({
      store,
      config,
      clock,
      log: silentLogger,
      dataDir,
      openLog: false,
      runConsumer: false,
    });
    usage = meterUsagePort(
      config,
      () => metering.reader,
      store.db,
      () => clock.now(),
    );
  }, 120_000);

  afterAll(async () => {
    await metering?.stop();
    await drop?.();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  let usage: ReturnType<typeof meterUsagePort>;

  const same = (a: TakeRateTotals, b: TakeRateTotals) =>
    a.transactions === b.transactions &&
    new Decimal(a.volume).eq(b.volume) &&
    new Decimal(a.amount).eq(b.amount);

  const priceArb: fc.Arbitrary<PercentagePrice> = fc.record(
    {
      type: fc.constant('percentage' as const),
      rate: fc.constantFrom('0', '1.2', '2.9', '33.333', '100'),
      fixedFee: fc.constantFrom('0', '0.10', '0.30'),
      minimumPerTransaction: fc.constantFrom('0.50', '1'),
      maximumPerTransaction: fc.constantFrom('5.00', '10'),
      freeTransactions: fc.integer({ min: 0, max: 6 }),
      freeAmount: fc.constantFrom('0', '25.5', '500'),
    },
    { requiredKeys: ['type', 'rate'] },
  );

  /** A payment: customer 0–2, minute 0–59 of an hour (ties on purpose), cents, card or not. */
  const paymentArb = fc.record({
    customer: fc.integer({ min: 0, max: 2 }),
    minute: fc.integer({ min: 0, max: 59 }),
    cents: fc.integer({ min: 1, max: 200_000 }),
    card: fc.boolean(),
  });

  let run = 0;
  /** Previews read while some values were compacted and others still waited. */
  let mixedReads = 0;

  async function layout() {
    const [row] = await store.query<{ subject_chunks: number; waiting: number }>(
      `select (select count(*)::int from usage_value_subject_chunks) as subject_chunks,
              (select count(*)::int from usage_value_chunks where not compacted) as waiting`,
    );
    return row as { subject_chunks: number; waiting: number };
  }

  it('one customer read from its own chunks equals the JS rule and the billing run, compacted or not', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            payments: fc.array(paymentArb, { minLength: 1, maxLength: 12 }),
            compact: fc.boolean(),
          }),
          {
            minLength: 1,
            maxLength: 6,
          },
        ),
        priceArb,
        async (batches, price) => {
          run += 1;
          // A period of its own per run (one hour, in February), so runs never see each other's events.
          const from = new Date(Date.UTC(2026, 1, 1) + run * 3_600_000);
          const to = new Date(from.getTime() + 3_600_000);
          const customers = [0, 1, 2].map((c) => `cus_${run}_${c}`);
          const stored: { customer: string; time: string; value: string; card: boolean }[] = [];
          let n = 0;
          for (const batch of batches) {
            const events: UsageEvent[] = batch.payments.map((p) => {
              const time = new Date(from.getTime() + p.minute * 60_000).toISOString();
              const value = new Decimal(p.cents).div(100).toString();
              stored.push({ customer: customers[p.customer] as string, time, value, card: p.card });
              return {
                specversion: '1.0',
                id: `pay_${run}_${n++}`,
                source: 'test',
                type: 'payment',
                subject: customers[p.customer] as string,
                time,
                data: { amount: Number(value), method: p.card ? 'card' : 'bank' },
              };
            });
            await metering.ingest.write(events);
            if (batch.compact) await metering.compaction.compactAll();
          }
          // The billing run: the period has ended, every customer in one aggregate.
          clock.set(new Date(to.getTime() + 10_000));
          const billed = await Promise.all(
            customers.map(
              (c) => usage.transactions?.(c, 'card_volume', price, from, to) as Promise<TakeRateTotals>,
            ),
          );
          // The preview: the period still runs, one customer at a time from its own chunks.
          clock.set(new Date(to.getTime() - 1));
          const now = await layout();
          if (now.subject_chunks > 0 && now.waiting > 0) mixedReads += 1;
          for (const [i, customer] of customers.entries()) {
            const expected = rateTransactions(
              price,
              stored
                .filter((s) => s.customer === customer && s.card)
                .map((s) => ({ time: s.time, value: s.value })),
            );
            const previewed = (await usage.transactions?.(
              customer,
              'card_volume',
              price,
              from,
              to,
            )) as TakeRateTotals;
            if (!same(previewed, expected) || !same(billed[i] as TakeRateTotals, expected)) {
              expect({ previewed, billed: billed[i] }).toEqual({ previewed: expected, billed: expected });
            }
          }
        },
      ),
      { seed: 20261205, numRuns: 25 },
    );
    // Most previews read both kinds of chunk: some values compacted, some still waiting.
    expect(mixedReads).toBeGreaterThan(5);
  }, 300_000);

  it('compaction keeps every value exactly once: meter queries and the preview agree after it', async () => {
    const from = new Date(Date.UTC(2026, 0, 10));
    const to = new Date(Date.UTC(2026, 0, 11));
    const events: UsageEvent[] = Array.from({ length: 2_500 }, (_, i) => ({
      specversion: '1.0',
      id: `once_${i}`,
      source: 'test',
      type: 'payment',
      subject: `cus_once_${i % 5}`,
      time: new Date(from.getTime() + i * 30_000).toISOString(),
      data: { amount: (i % 97) + 0.5, method: 'card' },
    }));
    for (let i = 0; i < events.length; i += 500) await metering.ingest.write(events.slice(i, i + 500));
    clock.set(new Date(to.getTime() - 1));
    const before = await usage.transactions?.('cus_once_3', 'card_volume', PRICE, from, to);
    await metering.compaction.compactAll();
    expect((await layout()).waiting).toBe(0);
    const after = await usage.transactions?.('cus_once_3', 'card_volume', PRICE, from, to);
    expect(after).toEqual(before);
    expect(after?.transactions).toBe('500');
    // Meter queries still read every value once from the value chunks.
    const total = await metering.reader.query({ meterSlug: 'payments', from, to, subject: ['cus_once_3'] });
    const summed = total.data.reduce((s, r) => s.add(r.value), new Decimal(0));
    expect(summed.eq(after?.volume ?? 'NaN')).toBe(true);
    expect(summed.toNumber()).toBeGreaterThan(0);
  }, 120_000);
});
