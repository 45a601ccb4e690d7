/**
 * `npm run bench:billing`: a billing run for 10,000 subscriptions on the embedded store (PGlite),
 * with the sandbox rail charging every invoice. Setup (customers, subscriptions, saved cards) is
 * bulk-inserted and not timed; the run is timed end to end (rating, invoice + lines, numbering,
 * charge with idempotency key, period roll-over), then the asynchronous confirmations.
 *
 * The mix (issue 15): a quarter on Pro (flat fee), a quarter on Pro with a 20 % coupon (forever),
 * a quarter on Growth (graduated usage; every other one with a $5 coupon on its usage rate card),
 * a quarter on Payments: a take rate (2.9 % + $0.30, min $0.50, max $10, first 3 free) over
 * `BENCH_TRANSACTIONS` (default 40) card payments each, metered into the store and rated there
 * per transaction (one SQL aggregate per period for every customer).
 *
 * Summed usage comes from a synthetic in-memory port (the meter query cost belongs to bench:ingest).
 * Budget (README, "Performance"): ≤ 60 s for 10k subscriptions.
 */
import { SingleBar } from 'cli-progress';
import {
  createBilling,
  meterUsagePort,
  noEvents,
  type SandboxRail,
  subscriptionPort,
} from '../src/billing/index.ts';
import { createCatalogService } from '../src/catalog/index.ts';
import { memoryChangeFeed, migrate, openPGliteStore } from '../src/store/index.ts';
import { createCustomerService, createSubscriptionService } from '../src/subscriptions/index.ts';
import { ManualClock } from '../src/util/clock.ts';
import { silentLogger } from '../src/util/log.ts';
import { testCatalog, testFeatures, testMeters, testPlans } from '../test/support/catalog.ts';

const COUNT = Number(process.env.BENCH_SUBSCRIPTIONS ?? 10_000);
// BENCH_DATABASE=postgres runs the same on PostgreSQL (TOLLGATE_TEST_DATABASE_URL, a fresh schema).
const onPostgres = process.env.BENCH_DATABASE === 'postgres';
const pg = onPostgres ? await (await import('../test/support/postgres.ts')).openTestPostgres() : null;
const store = pg ? pg.store : await openPGliteStore();
await migrate(store);
const clock = new ManualClock('2026-01-01T00:00:00Z');
const changes = memoryChangeFeed();
const TRANSACTIONS = Number(process.env.BENCH_TRANSACTIONS ?? 40);
const config = testCatalog({
  meters: [
    ...Object.values(testMeters),
    { slug: 'payments', eventType: 'payment', aggregation: 'SUM', valueProperty: '$.amount' },
  ],
  features: [
    ...Object.values(testFeatures),
    { key: 'card_volume', name: 'Card payments', meter: 'payments' },
  ],
  plans: [
    ...Object.values(testPlans),
    {
      key: 'payments',
      name: 'Payments',
      rateCards: [
        {
          key: 'card_fees',
          name: 'Card processing',
          feature: 'card_volume',
          price: {
            type: 'percentage',
            rate: '2.9',
            fixedFee: '0.30',
            minimumPerTransaction: '0.50',
            maximumPerTransaction: '10.00',
            freeTransactions: 3,
          },
        },
      ],
    },
  ],
});
const catalog = createCatalogService({ store, changes, clock });
const customers = createCustomerService({ store, changes, clock });
const subscriptions = createSubscriptionService({ store, changes, clock, catalog, customers });
await catalog.sync(config);

console.log(
  `setting up ${COUNT} subscriptions (Pro, Pro with a coupon, Growth with graduated usage, Payments with a take rate over ${TRANSACTIONS} transactions each)…`,
);
const t0 = performance.now();
const templates: string[] = [];
for (const plan of ['pro', 'growth', 'payments']) {
  const c = await customers.create({ name: `template ${plan}` });
  templates.push((await subscriptions.subscribe({ customerId: c.id, planKey: plan })).id);
}
// Clone the two template subscriptions in bulk: customers, subscriptions, segments, periods, cards.
await store.exec(`
  insert into customers (id, name, email, currency, created_at, updated_at)
    select 'cus_b' || g, 'Bench ' || g, 'b' || g || '@example.com', 'USD', now(), now() from generate_series(1, ${COUNT}) g;
  insert into subscriptions (id, customer_id, plan_key, plan_version, plan_version_id, status, started_at,
      current_period_start, current_period_end, phases, cancel_at_period_end, overrides, metadata, created_at, updated_at)
    select 'sub_b' || lpad(g::text, 6, '0'), 'cus_b' || g, t.plan_key, t.plan_version, t.plan_version_id, t.status, t.started_at,
      t.current_period_start, t.current_period_end, t.phases, false, t.overrides, t.metadata, now(), now()
    from generate_series(1, ${COUNT}) g
    join subscriptions t on t.id = (case when g % 4 = 1 then '${templates[1]}' when g % 4 = 2 then '${templates[2]}' else '${templates[0]}' end);
  insert into subscription_segments (id, subscription_id, plan_key, plan_version, plan_version_id, overrides, "from", "to", reason)
    select 'seg_b' || g, 'sub_b' || lpad(g::text, 6, '0'), s.plan_key, s.plan_version, s.plan_version_id, s.overrides, s."from", null, 'subscribe'
    from generate_series(1, ${COUNT}) g
    join subscription_segments s on s.subscription_id = (case when g % 4 = 1 then '${templates[1]}' when g % 4 = 2 then '${templates[2]}' else '${templates[0]}' end);
  insert into subscription_periods (subscription_id, period_start, period_end)
    select 'sub_b' || lpad(g::text, 6, '0'), '2026-01-01T00:00:00Z', '2026-02-01T00:00:00Z' from generate_series(1, ${COUNT}) g;
  insert into billing_rail_customers (customer_id, rail, rail_customer_id, payment_method_id)
    select 'cus_b' || g, 'sandbox', 'sbx_cus_b' || g, 'pm_sbx_4242424242424242_b' || g from generate_series(1, ${COUNT}) g;
  delete from subscription_periods where subscription_id in ('${templates.join("', '")}');
  -- Coupons: 20 % off forever for every Pro subscriber g % 4 = 3; $5 off usage for half of Growth.
  insert into billing_coupons (code, name, percent_off, duration, created_at)
    values ('BENCH20', 'Coupon BENCH20', 20, 'forever', now());
  insert into billing_coupons (code, name, amount_off, currency, duration, rate_card_keys, created_at)
    values ('USAGE5', 'Coupon USAGE5', 5, 'USD', 'forever', '["requests"]', now());
  insert into billing_discounts (id, coupon_code, customer_id, redeemed_at)
    select 'dsc_b' || g, case when g % 4 = 3 then 'BENCH20' else 'USAGE5' end, 'cus_b' || g, '2026-01-01T00:00:00Z'
    from generate_series(1, ${COUNT}) g where g % 4 = 3 or g % 8 = 1;
  -- Card payments of the Payments subscribers, metered in chunks of 1,000 as ingest writes them.
  insert into metering_meters (id, slug, fingerprint, definition) values ('met_payments', 'payments', 'bench', '{}');
  insert into usage_value_chunks (meter, min_time, max_time, count, vals)
    select (select key from metering_meters where slug = 'payments'), min(t), max(t), count(*),
           json_agg(json_build_object('time', t, 'subject', subject, 'value', value, 'value_text', null, 'dims', '{}'::json) order by t)::text
    from (
      select 'cus_b' || g as subject,
             '2026-01-01T00:00:00Z'::timestamptz + ((i * 613 + g * 7) % 2678400) * interval '1 second' as t,
             (5 + (g * 31 + i * 17) % 900)::numeric + 0.99 as value,
             row_number() over (order by g, i) as r
      from generate_series(1, ${COUNT}) g, generate_series(1, ${TRANSACTIONS}) i where g % 4 = 2
    ) e
    group by (r - 1) / 1000;
  analyze;
`);
console.log(`setup ${((performance.now() - t0) / 1000).toFixed(1)} s`);

const timings = new Map<string, number>();
function timed<T extends object>(name: string, obj: T): T {
  for (const k of Object.keys(obj) as (keyof T)[]) {
    const f = obj[k];
    if (typeof f !== 'function') continue;
    (obj as Record<keyof T, unknown>)[k] = async (...args: unknown[]) => {
      const t = performance.now();
      try {
        return await (f as (...a: unknown[]) => unknown).apply(obj, args);
      } finally {
        timings.set(
          `${name}.${String(k)}`,
          (timings.get(`${name}.${String(k)}`) ?? 0) + performance.now() - t,
        );
      }
    };
  }
  return obj;
}
const billing = createBilling({
  store,
  clock,
  log: silentLogger,
  config,
  events: noEvents,
  subscriptions: process.env.BENCH_PROFILE
    ? timed('port', subscriptionPort({ store, config, subscriptions, customers, catalog }))
    : subscriptionPort({ store, config, subscriptions, customers, catalog }),
  usage: {
    async usage(customerId, _s, features) {
      const n = Number(customerId.replace(/\D/g, '')) || 0;
      return Object.fromEntries(features.map((f) => [f, String(5_000 + ((n * 7919) % 20_000))]));
    },
    // Take rates are rated where the payments are: the store's aggregate, as in production.
    transactions: meterUsagePort(
      config,
      () => null,
      store.db,
      () => clock.now(),
    ).transactions,
  },
});

if (process.env.BENCH_PROFILE) {
  timed('rail', billing.rail);
  const service = billing.service as unknown as Record<string, unknown>;
  const wrapped = timed('service', { handleRailEvent: billing.service.handleRailEvent });
  service.handleRailEvent = wrapped.handleRailEvent;
}
clock.set('2026-02-01T00:00:10Z');
const bar = new SingleBar({ format: 'billing {bar} {value}/{total} | {rate} subs/s', hideCursor: true });
bar.start(COUNT, 0, { rate: 0 });
(globalThis as { __countOn?: () => void }).__countOn?.();
const cpuStart = process.cpuUsage();
const start = performance.now();
const summary = await billing.service.runBilling({
  onProgress: (p) => {
    if (p.done % 100 === 0 || p.done === COUNT) {
      bar.update(p.done, { rate: Math.round(p.done / ((performance.now() - start) / 1000)) });
    }
  },
});
await (billing.rail as SandboxRail).drain(); // runBilling already delivered the confirmations
const runSeconds = (performance.now() - start) / 1000;
const cpu = process.cpuUsage(cpuStart);
const cpuSeconds = (cpu.user + cpu.system) / 1e6;
bar.stop();

const [paid] = await store.query<{ n: number; total: string }>(
  "select count(*)::int as n, sum(total)::text as total from billing_invoices where status = 'paid'",
);
const [mix] = await store.query<{ discounts: number; take_rates: number; take_rate_total: string }>(
  `select count(*) filter (where kind = 'discount')::int as discounts,
          count(*) filter (where rate_card_key = 'card_fees')::int as take_rates,
          coalesce(sum(amount) filter (where rate_card_key = 'card_fees'), 0)::text as take_rate_total
   from billing_invoice_lines`,
);
console.log(
  JSON.stringify(
    {
      subscriptions: COUNT,
      store: store.kind,
      invoicesCreated: summary.invoicesCreated,
      paid: paid?.n,
      revenue: paid?.total,
      discountLines: mix?.discounts,
      takeRateLines: mix?.take_rates,
      takeRateTransactions: Math.floor(COUNT / 4) * TRANSACTIONS,
      takeRateRevenue: mix?.take_rate_total,
      // the whole run: rating, invoices, numbering, charges and their asynchronous confirmations
      runSeconds: Number(runSeconds.toFixed(2)),
      // CPU time of this process: close to the wall time on an idle machine (PGlite is single-threaded)
      cpuSeconds: Number(cpuSeconds.toFixed(2)),
      loadAverage: (await import('node:os')).loadavg()[0]?.toFixed(1),
      subscriptionsPerSecond: Math.round(COUNT / runSeconds),
      budgetSeconds: 60,
      withinBudget: runSeconds <= 60,
    },
    null,
    2,
  ),
);
await (globalThis as { __countDump?: () => Promise<void> }).__countDump?.();
if (process.env.BENCH_PROFILE) console.log([...timings].map(([k, v]) => `${k} ${v.toFixed(0)}ms`).join('\n'));
if (pg) await pg.drop();
else await store.close();
