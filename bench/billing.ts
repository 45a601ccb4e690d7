/**
 * `npm run bench:billing`: a billing run for 10,000 subscriptions on the embedded store (PGlite),
 * with the sandbox rail charging every invoice. Setup (customers, subscriptions, saved cards) is
 * bulk-inserted and not timed; the run is timed end to end (rating, invoice + lines, numbering,
 * charge with idempotency key, period roll-over), then the asynchronous confirmations.
 *
 * Usage comes from a synthetic in-memory port (the meter query cost belongs to bench:ingest).
 * Budget (DESIGN.md): ≤ 60 s for 10k subscriptions.
 */
import { SingleBar } from 'cli-progress';
import { createBilling, type SandboxRail, subscriptionPort } from '../src/billing/index.ts';
import { createCatalogService } from '../src/catalog/index.ts';
import { memoryChangeFeed, migrate, openPGliteStore } from '../src/store/index.ts';
import { createCustomerService, createSubscriptionService } from '../src/subscriptions/index.ts';
import { ManualClock } from '../src/util/clock.ts';
import { silentLogger } from '../src/util/log.ts';
import { billingConfig } from '../test/billing/harness.ts';

const COUNT = Number(process.env.BENCH_SUBSCRIPTIONS ?? 10_000);
// BENCH_DATABASE=postgres runs the same on PostgreSQL (TOLLGATE_TEST_DATABASE_URL, a fresh schema).
const onPostgres = process.env.BENCH_DATABASE === 'postgres';
const pg = onPostgres ? await (await import('../test/support/postgres.ts')).openTestPostgres() : null;
const store = pg ? pg.store : await openPGliteStore();
await migrate(store);
const clock = new ManualClock('2026-01-01T00:00:00Z');
const changes = memoryChangeFeed();
const config = billingConfig();
const catalog = createCatalogService({ store, changes, clock });
const customers = createCustomerService({ store, changes, clock });
const subscriptions = createSubscriptionService({ store, changes, clock, catalog, customers });
await catalog.sync(config);

console.log(`setting up ${COUNT} subscriptions (half Pro: flat fee, half Growth: graduated usage tiers)…`);
const t0 = performance.now();
const templates: string[] = [];
for (const plan of ['pro', 'growth']) {
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
    join subscriptions t on t.id = (case when g % 2 = 0 then '${templates[0]}' else '${templates[1]}' end);
  insert into subscription_segments (id, subscription_id, plan_key, plan_version, plan_version_id, overrides, "from", "to", reason)
    select 'seg_b' || g, 'sub_b' || lpad(g::text, 6, '0'), s.plan_key, s.plan_version, s.plan_version_id, s.overrides, s."from", null, 'subscribe'
    from generate_series(1, ${COUNT}) g
    join subscription_segments s on s.subscription_id = (case when g % 2 = 0 then '${templates[0]}' else '${templates[1]}' end);
  insert into subscription_periods (subscription_id, period_start, period_end)
    select 'sub_b' || lpad(g::text, 6, '0'), '2026-01-01T00:00:00Z', '2026-02-01T00:00:00Z' from generate_series(1, ${COUNT}) g;
  insert into billing_rail_customers (customer_id, rail, rail_customer_id, payment_method_id)
    select 'cus_b' || g, 'sandbox', 'sbx_cus_b' || g, 'pm_sbx_4242424242424242_b' || g from generate_series(1, ${COUNT}) g;
  delete from subscription_periods where subscription_id in ('${templates[0]}', '${templates[1]}');
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
  subscriptions: process.env.BENCH_PROFILE
    ? timed('port', subscriptionPort({ store, config, subscriptions, customers, catalog }))
    : subscriptionPort({ store, config, subscriptions, customers, catalog }),
  usage: {
    async usage(customerId, _s, features) {
      const n = Number(customerId.replace(/\D/g, '')) || 0;
      return Object.fromEntries(features.map((f) => [f, String(5_000 + ((n * 7919) % 20_000))]));
    },
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
console.log(
  JSON.stringify(
    {
      subscriptions: COUNT,
      store: store.kind,
      invoicesCreated: summary.invoicesCreated,
      paid: paid?.n,
      revenue: paid?.total,
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
