/**
 * Take rates at millions of events (issue 15): `node bench/take-rates.ts [--events 1000000]
 * [--customers 1000] [--views 20]` (`BENCH_DATABASE=postgres` for PostgreSQL).
 *
 * Ingests `--events` card payments (a SUM meter of amounts) for `--customers` customers through
 * the ingest service, spread over January 2026 and interleaved (every batch holds payments of
 * hundreds of customers, as a payment gateway's usage does), then times:
 *   (a) the billing run's take-rate rating: January rated for every customer in one aggregate;
 *   (b) one customer's upcoming-invoice view (the portal/admin preview: the running period, one
 *       customer) with 15 value chunks not compacted yet (the most compaction leaves), the
 *       median over `--views` customers; and the same view computed the way it
 *       was before the per-customer value chunks (unpacking every value chunk of the period and
 *       keeping the customer's rows), measured in the same run as the baseline.
 * Every view is checked against the billing run's totals for that customer.
 */
import { parseArgs } from 'node:util';
import { sql } from 'kysely';
import { meterUsagePort } from '../src/billing/adapters.ts';
import { type PercentagePrice, takeRateSql } from '../src/billing/rating-take-rates.ts';
import { resolveConfig } from '../src/config/index.ts';
import type { UsageEvent } from '../src/metering/events.ts';
import { startMetering } from '../src/metering/index.ts';
import { WAITING_CHUNKS } from '../src/metering/subject-compaction.ts';
import { migrate, openPGliteStore } from '../src/store/index.ts';
import { ManualClock } from '../src/util/clock.ts';
import { silentLogger } from '../src/util/log.ts';

const { values: args } = parseArgs({
  options: {
    events: { type: 'string', default: '1000000' },
    customers: { type: 'string', default: '1000' },
    views: { type: 'string', default: '20' },
    batch: { type: 'string', default: '5000' },
  },
});
const EVENTS = Number(args.events);
const CUSTOMERS = Number(args.customers);
const VIEWS = Number(args.views);
const BATCH = Number(args.batch);

const onPostgres = process.env.BENCH_DATABASE === 'postgres';
const pg = onPostgres ? await (await import('../test/support/postgres.ts')).openTestPostgres() : null;
const store = pg ? pg.store : await openPGliteStore();
await migrate(store);

const price: PercentagePrice = {
  type: 'percentage',
  rate: '2.9',
  fixedFee: '0.30',
  minimumPerTransaction: '0.50',
  maximumPerTransaction: '10.00',
  freeTransactions: 3,
};
const config = resolveConfig(
  {
    upstream: 'http://127.0.0.1:9',
    meters: [{ slug: 'payments', eventType: 'payment', aggregation: 'SUM', valueProperty: '$.amount' }],
    features: [{ key: 'card_volume', name: 'Card payments', meter: 'payments' }],
    plans: [
      {
        key: 'payments',
        name: 'Payments',
        rateCards: [{ key: 'card_fees', name: 'Card processing', feature: 'card_volume', price }],
      },
    ],
  },
  'bench/take-rates.ts',
  process.cwd(),
);
const clock = new ManualClock('2026-01-20T00:00:00Z');
// As in production: the take-rate meter's values are compacted per customer while they are stored.
const metering = await startMetering({
  store,
  config,
  clock,
  log: silentLogger,
  dataDir: process.cwd(),
  openLog: false,
  runConsumer: false,
});
const { ingest } = metering;

const JAN = Date.UTC(2026, 0, 1);
const MONTH_MS = 31 * 86_400_000;
/** Payment n: customer n mod C, at a time spread evenly over January, $5.00–$904.99. */
const payment = (n: number): UsageEvent => ({
  specversion: '1.0',
  id: `pay_${n.toString(36)}`,
  source: 'bench',
  type: 'payment',
  subject: `cus_${n % CUSTOMERS}`,
  time: new Date(JAN + Math.floor((n * MONTH_MS) / EVENTS)).toISOString(),
  data: { amount: `${5 + ((n * 31) % 900)}.${String((n * 17) % 100).padStart(2, '0')}` },
});

console.log(`ingesting ${EVENTS} payments of ${CUSTOMERS} customers (${store.kind})…`);
let t = performance.now();
for (let i = 0; i < EVENTS; i += BATCH) {
  const batch: UsageEvent[] = [];
  for (let n = i; n < Math.min(i + BATCH, EVENTS); n++) batch.push(payment(n));
  await ingest.write(batch);
  if ((i / BATCH) % 40 === 0) process.stdout.write(`\r${i + batch.length}`);
}
const ingestSeconds = (performance.now() - t) / 1000;
console.log(`\ringested in ${ingestSeconds.toFixed(1)} s`);
// The worst case for a view: as many value chunks still waiting as compaction leaves (15 of
// 1,000 events each), so a view also unpacks those.
await metering.compaction.compactAll();
for (let k = 0; k < WAITING_CHUNKS - 1; k++) {
  const tail: UsageEvent[] = [];
  for (let j = 0; j < 1_000; j++) {
    const n = EVENTS + k * 1_000 + j;
    tail.push({ ...payment(n), time: new Date(JAN + ((n * 7919) % MONTH_MS)).toISOString() });
  }
  await ingest.write(tail);
}
await metering.compaction.settled();
const [layout] = await store.query<{ waiting: number; subject_chunks: number; value_chunks: number }>(
  `select (select count(*)::int from usage_value_chunks where not compacted) as waiting,
          (select count(*)::int from usage_value_chunks) as value_chunks,
          (select count(*)::int from usage_value_subject_chunks) as subject_chunks`,
);
await store.exec('analyze');

const period = { from: new Date(JAN), to: new Date(Date.UTC(2026, 1, 1)) };
const ms = (from: number) => performance.now() - from;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

// (a) The billing run: the period has ended; one aggregate rates every customer.
clock.set('2026-02-01T00:00:10Z');
const billingRun = meterUsagePort(
  config,
  () => null,
  store.db,
  () => clock.now(),
);
t = performance.now();
const first = await billingRun.transactions?.('cus_0', 'card_volume', price, period.from, period.to);
const ratingMs = ms(t);
const all = new Map<string, string>();
for (let c = 0; c < CUSTOMERS; c++) {
  const totals = await billingRun.transactions?.(`cus_${c}`, 'card_volume', price, period.from, period.to);
  all.set(`cus_${c}`, JSON.stringify(totals));
}

// (b) One customer's upcoming invoice while the period runs (the preview asks for one customer).
clock.set('2026-01-31T12:00:00Z');
const preview = meterUsagePort(
  config,
  () => null,
  store.db,
  () => clock.now(),
);

/** The view as it was computed before: every value chunk of the period unpacked, filtered. */
async function unpackEveryChunk(customerId: string): Promise<string> {
  const rows = sql`(select x.subject, x.time, x.value from usage_value_chunks c
      cross join lateral json_to_recordset(c.vals::json)
        as x(time timestamptz, subject text, value numeric, value_text text, dims jsonb)
      where c.meter = (select key from metering_meters where slug = ${'payments'})
        and c.max_time >= ${period.from} and c.min_time < ${period.to}
        and x.subject = ${customerId} and x.time >= ${period.from} and x.time < ${period.to}) tx`;
  const {
    rows: [row],
  } = await takeRateSql(rows, price, true).execute(store.db);
  return JSON.stringify({ transactions: row?.transactions, volume: row?.volume, amount: row?.amount });
}

const before: number[] = [];
const after: number[] = [];
for (let v = 0; v < VIEWS; v++) {
  const customerId = `cus_${(v * 7919) % CUSTOMERS}`;
  // Alternate which goes first, so neither always runs on a warmer cache.
  const runs: [number[], () => Promise<string>][] = [
    [before, () => unpackEveryChunk(customerId)],
    [
      after,
      async () =>
        JSON.stringify(
          await preview.transactions?.(customerId, 'card_volume', price, period.from, period.to),
        ),
    ],
  ];
  if (v % 2) runs.reverse();
  for (const [into, view] of runs) {
    t = performance.now();
    const totals = await view();
    into.push(ms(t));
    if (totals !== all.get(customerId)) {
      throw new Error(`${customerId}: the view says ${totals}, the billing run ${all.get(customerId)}`);
    }
  }
}

console.log(
  JSON.stringify(
    {
      store: store.kind,
      events: EVENTS,
      customers: CUSTOMERS,
      ingestSeconds: Number(ingestSeconds.toFixed(1)),
      ingestEventsPerSecond: Math.round(EVENTS / ingestSeconds),
      ...layout,
      // Time the store spent compacting (it runs on the store's thread, between ingest batches).
      compactionSeconds: Number((metering.compaction.work.ms / 1000).toFixed(1)),
      compactionShareOfIngest: Number((metering.compaction.work.ms / 1000 / ingestSeconds).toFixed(3)),
      billingRunRatingMs: Math.round(ratingMs),
      firstCustomer: first,
      views: VIEWS,
      viewMedianMs: Number(median(after).toFixed(1)),
      viewBaselineMedianMs: Number(median(before).toFixed(1)),
      speedup: Number((median(before) / median(after)).toFixed(1)),
      loadAverage: (await import('node:os')).loadavg()[0]?.toFixed(1),
    },
    null,
    2,
  ),
);
await metering.stop();
if (pg) await pg.drop();
else await store.close();
