import { join, resolve } from 'node:path';
import { type ServerType, serve } from '@hono/node-server';
import type { Hono } from 'hono';
import { Registry } from 'prom-client';
import { resolveAdminToken } from './admin/auth.ts';
import { mountAdminApi } from './admin/index.ts';
import {
  type BillingService,
  createBilling,
  meterUsagePort,
  mountBillingRoutes,
  subscriptionPort,
} from './billing/index.ts';
import { createIncludedCredits } from './billing/plan-credits.ts';
import { type CatalogService, createCatalogService } from './catalog/index.ts';
import { openScaleOutBackends } from './cluster/backends.ts';
import { startHealthServer } from './cluster/health.ts';
import type { ResolvedConfig } from './config/index.ts';
import { watchConfig } from './config/watch.ts';
import { GatewayCredits } from './gateway/credits.ts';
import { Gateway, GatewayMetrics } from './gateway/index.ts';
import { createConsoleApp } from './http/hono.ts';
import { CachedKeyVerifier, KeysService } from './keys/index.ts';
import { type Metering, mountMeteringRoutes, startMetering } from './metering/index.ts';
import type { MeterReader } from './metering/query.ts';
import {
  createMailer,
  createWebhookService,
  liveCustomersOf,
  type Mailer,
  mountNotifyRoutes,
  recentCustomersOf,
  type UsageThresholds,
  usageThresholds,
  type WebhookService,
} from './notify/index.ts';
import { createPortal, type Portal, type PortalPorts } from './portal/index.ts';
import { billingPort, catalogPort, customersPort, keysPort, subscriptionsPort } from './portal/wire.ts';
import { MemoryCounterStore } from './ratelimit/memory.ts';
import type { CounterStore } from './ratelimit/types.ts';
import {
  type ChangeFeed,
  memoryChangeFeed,
  migrate,
  openStore,
  type Store,
  scheduleExclusive,
} from './store/index.ts';
import {
  type CachingAccessResolver,
  type CustomerService,
  createAccessResolver,
  createBalanceReader,
  createCustomerService,
  createSubscriptionService,
  type SubscriptionService,
} from './subscriptions/index.ts';
import { type Clock, systemClock } from './util/clock.ts';
import { createLogger, type Logger } from './util/log.ts';

/**
 * Composition root: opens the backends chosen at start-up, builds each module with what it
 * needs (explicitly, no service locator), and mounts their HTTP routes on the console listener.
 * Modules are started in dependency order and stopped in reverse.
 */
export interface StartOptions {
  config: ResolvedConfig;
  /** `postgres://…` for PostgreSQL, `:memory:` for tests; default: PGlite under dataDir. */
  database?: string;
  /** Where the embedded store and usage log live. Default `<config dir>/.tollgate`. */
  dataDir?: string;
  redis?: string;
  nats?: string;
  /** 'cli' opens the store and modules but listens on nothing and runs no background jobs. */
  role?: 'all' | 'gateway' | 'worker' | 'console' | 'cli';
  clock?: Clock;
  log?: Logger;
  /** Ports override the config (0 = any free port, for tests). */
  gatewayPort?: number;
  consolePort?: number;
  /** Dev mode: reload this config file when it changes, without dropping in-flight requests. */
  watchConfig?: string;
  /** Scale-out: serve /healthz, /readyz and /metrics on this port (gateway and worker roles have no console). */
  healthPort?: number;
}

/** Everything the modules share. Passed explicitly to each module's factory. */
export interface Runtime {
  readonly config: ResolvedConfig;
  readonly store: Store;
  readonly changes: ChangeFeed;
  readonly clock: Clock;
  readonly log: Logger;
  readonly dataDir: string;
  /** Bearer token for /api/admin and /api/v1 (see admin/auth.ts). */
  readonly adminToken: string;
}

export interface Tollgate {
  readonly runtime: Runtime;
  readonly gatewayUrl: string | null;
  readonly consoleUrl: string | null;
  /** `/healthz`, `/readyz`, `/metrics` listener of gateway/worker processes (`--health-port`). */
  readonly healthUrl: string | null;
  readonly consoleApp: Hono;
  /** The developer portal (spend-cap check for the AccessResolver, budget evaluation). */
  readonly portal: Portal;
  /** API keys: create / list / roll / revoke (the secret is returned once). */
  readonly keys: KeysService;
  /** Rate-limit and quota counters used by the gateway (memory, or Redis in scale-out). */
  readonly counters: CounterStore;
  /**
   * The gateway data plane (listening only for roles 'all' and 'gateway'). Modules plug in with
   * `gateway.access = resolver`, `gateway.usageLog = log`, `gateway.quotaSeed = fn`;
   * `gateway.reload(config)` swaps routes and policies without dropping in-flight requests.
   */
  readonly gateway: Gateway;
  /** Prometheus registry served at the console's `/metrics`. */
  readonly metrics: Registry;
  /** Usage metering: `reader` (MeterReader), `ingest` (batch writer), `usageLog` (embedded log or null). */
  readonly metering: Metering;
  /** Features and versioned plans (listPublicPlans, getPlanVersion, …). */
  readonly catalog: CatalogService;
  readonly customers: CustomerService;
  /** Subscriptions: subscribe, change plan, cancel, dunning states, effectiveRateCards. */
  readonly subscriptions: SubscriptionService;
  /** The gateway's access view; `access.addCheck(fn)` adds a check (e.g. credits at zero → 402). */
  readonly access: CachingAccessResolver;
  /** Billing: invoices, billing run, dunning, checkout, prepaid credits (`billing.credits`), rail. */
  readonly billing: BillingService;
  /** Outgoing webhooks (Standard Webhooks) and the delivery log. */
  readonly webhooks: WebhookService;
  /** Email: SMTP from `portal.smtp`, else the dev mailbox. */
  readonly mailer: Mailer;
  /** `usage.threshold` webhooks (checked on a schedule by roles all/worker). */
  readonly usageThresholds: UsageThresholds;
  stop(): Promise<void>;
}

interface Stoppable {
  stop(): Promise<void> | void;
}

/** The console listener; slow clients are cut off by the `console.limits` timeouts. */
function listen(
  app: Hono,
  port: number,
  host: string,
  limits: ResolvedConfig['console']['limits'],
): Promise<ServerType> {
  return new Promise((resolveListen) => {
    const server = serve(
      {
        fetch: app.fetch,
        port,
        hostname: host,
        serverOptions: {
          // Node requires headersTimeout ≤ requestTimeout.
          headersTimeout: Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs),
          requestTimeout: limits.requestTimeoutMs,
          keepAliveTimeout: limits.keepAliveTimeoutMs,
        },
      },
      () => resolveListen(server),
    );
  });
}

function urlOf(server: ServerType, host: string): string {
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return `http://${host}:${port}`;
}

export async function startTollgate(options: StartOptions): Promise<Tollgate> {
  const { config } = options;
  const role = options.role ?? 'all';
  const log = options.log ?? createLogger();
  const clock = options.clock ?? systemClock;
  const dataDir = resolve(options.dataDir ?? join(config.baseDir, '.tollgate'));
  const stopping: Stoppable[] = [];

  const store = await openStore(options.database, dataDir);
  stopping.push({ stop: () => store.close() });
  await migrate(store);
  // Scale-out backends (Redis counters, JetStream usage log, LISTEN/NOTIFY change feed), each
  // only when its URL was given; the embedded backend otherwise (see src/cluster/backends.ts).
  const scaleOut = await openScaleOutBackends({
    config,
    role,
    store,
    database: options.database,
    redis: options.redis,
    nats: options.nats,
    log,
  });
  stopping.push({ stop: () => scaleOut.close() });
  const changes = scaleOut.changes ?? memoryChangeFeed();
  stopping.push({ stop: () => changes.close() });

  const adminToken = resolveAdminToken(config, dataDir);
  // `config` is swapped by dev-mode reloads; modules that read it per request see the new one.
  let currentConfig = config;
  const runtime: Runtime = {
    get config() {
      return currentConfig;
    },
    store,
    changes,
    clock,
    log,
    dataDir,
    adminToken,
  };
  const consoleApp = createConsoleApp(log, {
    limits: () => {
      const limits = runtime.config.console.limits;
      return { defaultBytes: limits.bodyBytes, routes: limits.bodyBytesByRoute, jsonDepth: limits.jsonDepth };
    },
  });
  consoleApp.get('/healthz', (c) => c.json({ status: 'ok' }));
  consoleApp.get('/readyz', async (c) => {
    await store.query('select 1');
    const backends = await scaleOut.health();
    const ready = Object.values(backends).every((b) => b.ok);
    return c.json({ status: ready ? 'ready' : 'degraded', store: store.kind, backends }, ready ? 200 : 503);
  });

  // Modules are wired here as they land (keys, counters, metering, catalog, subscriptions,
  // billing, notify, portal, admin, gateway).

  // Catalog, customers, subscriptions and the gateway's access view. The config's plans are
  // published at start-up (unchanged plans publish nothing); the CLI pushes explicitly.
  const catalog = createCatalogService({ store, changes, clock });
  if (role !== 'cli') {
    const pushed = await catalog.sync(config);
    for (const plan of pushed.plans) {
      if (plan.action !== 'unchanged')
        log.info({ plan: plan.key, action: plan.action, version: plan.toVersion }, 'catalog');
    }
  }
  const customers = createCustomerService({ store, changes, clock });
  const subscriptions = createSubscriptionService({ store, changes, clock, catalog, customers });
  let accessConsoleUrl: string | null = null;
  const access = createAccessResolver({
    catalog,
    customers,
    subscriptions,
    changes,
    clock,
    log: log.child({ module: 'access' }),
    consoleUrl: () =>
      runtime.config.console.publicUrl ??
      accessConsoleUrl ??
      `http://${runtime.config.console.host}:${runtime.config.console.port}`,
  });
  stopping.push({ stop: () => access.close() });

  // Notify (outgoing webhooks, mail) and billing. Billing reads usage through the meter reader
  // (set `billingMeterReader` where metering is wired); subscription events become webhooks.
  const webhooks = createWebhookService({
    store,
    clock,
    log: log.child({ module: 'webhooks' }),
    // Outgoing calls reach public https addresses only; http is allowed under `tollgate dev`.
    policy: () => ({
      allowHosts: runtime.config.notifications.allowHosts,
      requireHttps: options.watchConfig === undefined,
    }),
  });
  stopping.push({ stop: () => webhooks.stop() });
  const mailer = createMailer({ config, store, clock, log: log.child({ module: 'mail' }) });
  stopping.push({ stop: () => mailer.close() });
  subscriptions.onEvent((event) =>
    // Returned: the subscription operation waits for the webhook row (a CLI exits only after it).
    webhooks.emit(event.type, { subscription: event.subscription }).then(
      () => undefined,
      (error) => log.error({ err: error }, 'webhook emit failed'),
    ),
  );
  let billingMeterReader: MeterReader | null = null;
  // Credits a plan includes: granted on activation and at every period roll-over.
  const includedCredits = createIncludedCredits({
    subscriptions,
    credits: () => billing.credits,
    log: log.child({ module: 'billing' }),
  });
  subscriptions.onEvent((event) => includedCredits.onEvent(event));
  const billingSubscriptions = includedCredits.wrapPort(
    subscriptionPort({ store, config, subscriptions, customers, catalog }),
  );
  const { service: billing } = createBilling({
    store,
    clock,
    log: log.child({ module: 'billing' }),
    config,
    subscriptions: billingSubscriptions,
    usage: meterUsagePort(config, () => billingMeterReader),
    events: webhooks,
    mail: mailer,
    portalInvoicesUrl: () =>
      `${runtime.config.console.publicUrl ?? accessConsoleUrl ?? `http://${runtime.config.console.host}:${runtime.config.console.port}`}/portal/invoices`,
    onCreditsChange: (customerId) => void changes.publish({ topic: 'credits', id: customerId }),
  });
  await billing.credits.refresh();
  changes.subscribe((change) => {
    if (change.topic === 'credits') void billing.credits.refresh(change.id === '*' ? undefined : change.id);
  });
  access.addCheck((customerId) => billing.credits.accessCheck(customerId));
  mountBillingRoutes(consoleApp, { billing, subscriptions: billingSubscriptions, adminToken, config });
  mountNotifyRoutes(consoleApp, { webhooks, mailer, adminToken });
  if (role === 'all' || role === 'worker') {
    webhooks.start();
    // Billing run and dunning: every process tries, the advisory lock lets one work at a time.
    const billingTimer = setInterval(() => {
      billing
        .runBilling()
        .then(() => billing.runDunning())
        .catch((error) => log.error({ err: error }, 'billing job failed'));
    }, 60_000);
    billingTimer.unref();
    stopping.push({ stop: () => clearInterval(billingTimer) });
  }

  // Keys, counters and the gateway (its listener starts below, with the others).
  const keys = new KeysService({ store, changes, clock, config });
  const keyVerifier = new CachedKeyVerifier({ repo: keys.repo, changes, clock, log });
  stopping.push({ stop: () => keyVerifier.close() });
  const counters: CounterStore = scaleOut.counters ?? new MemoryCounterStore();
  stopping.push({ stop: () => counters.close() });
  const metrics = new Registry();
  scaleOut.registerMetrics(metrics);
  const gateway = new Gateway({
    config,
    verifier: keyVerifier,
    counters,
    log: log.child({ module: 'gateway' }),
    metrics: new GatewayMetrics(metrics),
    access,
    quotaSeed: (_customerId, quota) => quota.seed?.() ?? Promise.resolve(0),
  });
  // Credits-only customers: credits reserved before each call and settled from its usage.
  gateway.credits = new GatewayCredits(
    {
      creditsOnlyCurrency: (customerId) => billing.credits.creditsOnlyCurrency(customerId),
      reserve: (input) => billing.credits.reserve(input),
      settle: (input) => billing.credits.settle(input),
      rateCards: async (subscriptionId) => (await subscriptions.effectiveRateCards(subscriptionId)).rateCards,
    },
    log.child({ module: 'gateway' }),
  );
  // Scale-out: usage goes to JetStream (acknowledged before the response ends).
  if (scaleOut.usageLog) gateway.usageLog = scaleOut.usageLog;

  // Metering: meters, ingest, queries and the OpenMeter-compatible /api/v1 API. Without NATS
  // the gateway appends to the embedded usage log under <dataDir>/usage-log and the consumer
  // (roles all/worker) moves it into the store; with NATS the JetStream consumer (worker role)
  // feeds the same batch writer (metering.ingest.writeBatch).
  const embeddedLog = !options.nats;
  const metering = await startMetering({
    store,
    config,
    clock,
    log: log.child({ module: 'metering' }),
    dataDir,
    openLog: embeddedLog && (role === 'all' || role === 'gateway'),
    runConsumer: embeddedLog && (role === 'all' || role === 'worker'),
  });
  stopping.push(metering);
  if (!scaleOut.usageLog && metering.usageLog) gateway.usageLog = metering.usageLog;
  if (options.nats) await scaleOut.startUsageConsumer((events) => metering.ingest.writeBatch(events));
  metering.registerMetrics(metrics);
  billingMeterReader = metering.reader;
  access.setMeterReader(metering.reader); // quota counters start from the period's metered usage
  mountMeteringRoutes(consoleApp, {
    adminToken,
    meters: metering.meters,
    reader: metering.reader,
    ingest: metering.ingest,
    listEvents: metering.listEvents,
  });
  consoleApp.get('/metrics', async (c) =>
    c.body(await metrics.metrics(), 200, { 'content-type': metrics.contentType }),
  );

  // Admin API: /api/admin (+ /api/admin/openapi.json and the /api/admin/docs reference page).
  const balances = createBalanceReader({ access, catalog, customers, clock, counters });
  mountAdminApi(consoleApp, { adminToken, catalog, customers, subscriptions, keys, balances });

  // usage.threshold webhooks from the entitlement balances, on one worker at a time.
  const thresholds = usageThresholds({
    clock,
    log: log.child({ module: 'usage-thresholds' }),
    webhooks,
    thresholds: () => runtime.config.notifications.usageThresholds,
    customers: liveCustomersOf(subscriptions),
    recentCustomers: recentCustomersOf(
      () => metering.reader,
      () => runtime.config.meters.map((m) => m.slug),
    ),
    balances,
    meterOf: (key) => runtime.config.features.find((f) => f.key === key)?.meter ?? null,
  });
  if (role === 'all' || role === 'worker') {
    stopping.push(
      scheduleExclusive(
        store,
        'usage-thresholds',
        15_000,
        () => thresholds.evaluateAll().then(() => undefined),
        log,
      ),
    );
  }

  // Developer portal: SPA at `/`, `/api/portal/*`. Modules fill `portalPorts` (adapters in
  // src/portal/wire.ts) as they are wired; the portal reads them on every request.
  const portalPorts: PortalPorts = {
    customers: customersPort(customers),
    catalog: catalogPort(catalog, () => runtime.config),
    keys: keysPort(keys),
    meter: metering.reader,
    subscriptions: subscriptionsPort({ subscriptions, catalog, balances, clock }),
    billing: billingPort({ billing, subscriptions, customers, catalog, clock, config: () => runtime.config }),
    mail: mailer,
    webhooks,
  };
  let portalGatewayUrl: string | null = null;
  const portal = createPortal(consoleApp, {
    config: () => runtime.config,
    store,
    clock,
    log,
    adminToken,
    ports: portalPorts,
    gatewayUrl: () => portalGatewayUrl,
    evaluateEveryMs: role === 'cli' ? 0 : 5000,
    // Every node refreshes spend caps (gateways enforce them); alerts fire from 'all'/'worker'.
    evaluateAlerts: role === 'all' || role === 'worker',
  });
  stopping.push(portal);
  // The hard spend cap set in the portal: the gateway answers 402 while it is reached.
  access.addCheck((customerId) => portal.checkSpendCap(customerId));

  let gatewayUrl: string | null = null;
  if (role === 'all' || role === 'gateway') {
    gatewayUrl = await gateway.listen(options.gatewayPort ?? config.gateway.port, config.gateway.host);
    stopping.push({ stop: () => gateway.close() });
  }
  let consoleUrl: string | null = null;
  if (role === 'all' || role === 'console') {
    const host = config.console.host;
    const server = await listen(
      consoleApp,
      options.consolePort ?? config.console.port,
      host,
      config.console.limits,
    );
    stopping.push({ stop: () => new Promise<void>((r) => server.close(() => r())) });
    consoleUrl = urlOf(server, host);
  }

  let healthUrl: string | null = null;
  if (options.healthPort !== undefined && role !== 'cli') {
    const health = await startHealthServer({
      port: options.healthPort,
      role,
      registry: metrics,
      checks: async () => {
        await store.query('select 1');
        return { store: { ok: true, kind: store.kind }, ...(await scaleOut.health()) };
      },
    });
    stopping.push({ stop: () => new Promise<void>((r) => health.server.close(() => r())) });
    healthUrl = health.url;
  }

  if (options.watchConfig && role !== 'cli') {
    const watcher = watchConfig(
      options.watchConfig,
      async (next) => {
        // Meters first: an edited plan may price a meter the edit added.
        await metering.meters.reload(next.meters);
        const pushed = await catalog.sync(next);
        // Dev mode only: subscribers follow an edited plan at once, so an edit shows on the next
        // request (`tollgate start` keeps them on their version until `tollgate plans migrate`).
        for (const plan of pushed.plans) {
          if (plan.action !== 'publish' || plan.subscribers === 0) continue;
          try {
            const { migrated } = await subscriptions.migratePlan(plan.key);
            log.info(
              { plan: plan.key, version: plan.toVersion, migrated: migrated.length },
              'dev: subscribers migrated',
            );
          } catch (error) {
            log.warn({ err: error, plan: plan.key }, 'dev: some subscribers stay on their version');
          }
        }
        gateway.reload(next);
        currentConfig = next;
      },
      (message, error) => (error ? log.error(message) : log.info(message)),
    );
    stopping.push({ stop: () => watcher.close() });
  }

  portalGatewayUrl = gatewayUrl;
  accessConsoleUrl = consoleUrl;
  return {
    runtime,
    portal,
    keys,
    counters,
    gateway,
    metrics,
    metering,
    catalog,
    customers,
    subscriptions,
    access,
    billing,
    webhooks,
    mailer,
    usageThresholds: thresholds,
    gatewayUrl,
    consoleUrl,
    healthUrl,
    consoleApp,
    async stop() {
      for (const s of stopping.reverse()) await s.stop();
    },
  };
}
