import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveConfig } from '../../src/config/index.ts';
import { Gateway } from '../../src/gateway/index.ts';
import { CachedKeyVerifier, KeysService } from '../../src/keys/index.ts';
import { openEmbeddedUsageLog } from '../../src/metering/index.ts';
import { MemoryCounterStore } from '../../src/ratelimit/memory.ts';
import { memoryChangeFeed, migrate, openPGliteStore } from '../../src/store/index.ts';
import type { AccessResolver, AccessView } from '../../src/subscriptions/access.ts';
import { systemClock } from '../../src/util/clock.ts';
import { createLogger } from '../../src/util/log.ts';

/**
 * The gateway under benchmark, as its own process (pinned by the caller with taskset).
 *   BENCH_UPSTREAM=http://127.0.0.1:4010 BENCH_MODE=full|bare node bench/lib/gateway-server.ts
 * Prints one JSON line `{ "url": …, "key": … }` when ready; runs until SIGTERM.
 *
 * full: API key auth (cached), access view with a subscription and an entitlement check, GCRA
 *       rate limit, hard quota counter, usage events appended to the embedded usage log.
 * bare: the same route marked public and no limits or metering: the proxy alone.
 * nolog: full, but usage events go to a no-op log (isolates the usage log's cost).
 */
const upstream = process.env.BENCH_UPSTREAM ?? 'http://127.0.0.1:4010';
const mode = (['bare', 'nolog'] as const).find((m) => m === process.env.BENCH_MODE) ?? 'full';
const dir = mkdtempSync(join(tmpdir(), 'tollgate-bench-'));

const store = await openPGliteStore();
await migrate(store);
const changes = memoryChangeFeed();
const keys = new KeysService({
  store,
  changes,
  clock: systemClock,
  config: { keys: { prefix: 'tg', rollGracePeriod: '24h' } },
});
const verifier = new CachedKeyVerifier({ repo: keys.repo, changes, clock: systemClock });
const { secret } = await keys.create({ customerId: 'cus_bench', subscriptionId: 'sub_bench' });

const config = resolveConfig(
  {
    upstream: { url: upstream, timeoutMs: 10_000, connections: 64 },
    features: [{ key: 'api_requests', name: 'API requests' }],
    routes: [{ method: 'GET', path: '/v1/weather', feature: 'api_requests', public: mode === 'bare' }],
    metering: { aiUsage: true },
  },
  'bench.config.ts',
  process.cwd(),
);

const period = { from: new Date('2026-01-01T00:00:00Z'), to: new Date('2100-01-01T00:00:00Z') };
const view: AccessView = {
  customer: { id: 'cus_bench', name: 'Bench', metadata: {} },
  subscription: {
    id: 'sub_bench',
    status: 'active',
    plan: { key: 'pro', version: 1, name: 'Pro' },
    phase: 'default',
    currentPeriod: period,
  },
  entitlements: {
    api_requests: { featureKey: 'api_requests', type: 'metered', hasAccess: true, limit: 1e12 },
  },
  rateLimit: { limit: 1_000_000_000, windowMs: 60_000 },
  quotas: {
    api_requests: {
      featureKey: 'api_requests',
      meterSlug: 'requests',
      counterKey: 'q:sub_bench:api_requests',
      limit: 1e12,
      soft: false,
      periodStart: period.from,
      resetAt: period.to,
    },
  },
  blocked: null,
  upgradeUrl: 'http://127.0.0.1:8081/pricing',
};
const access: AccessResolver = { resolve: () => view };
const usageLog =
  mode === 'full'
    ? openEmbeddedUsageLog({ dir: join(dir, 'usage-log') })
    : mode === 'nolog'
      ? { append() {}, async close() {} }
      : null;
const counters = new MemoryCounterStore();
const gateway = new Gateway({
  config,
  verifier,
  counters,
  access,
  usageLog,
  log: createLogger({ level: 'warn' }),
});
const url = await gateway.listen(Number(process.env.BENCH_PORT ?? 0));
console.log(JSON.stringify({ url, key: secret, mode }));

process.once('SIGTERM', async () => {
  await gateway.close();
  await usageLog?.close();
  await verifier.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
  process.exit(0);
});
