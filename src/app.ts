import type { Hono } from 'hono';
import type { Registry } from 'prom-client';
import type { BillingService } from './billing/index.ts';
import type { CatalogService } from './catalog/index.ts';
import type { Scheduler } from './cluster/scheduler.ts';
import { type BackendOptions, openBackends } from './compose/backends.ts';
import { startJobs } from './compose/jobs.ts';
import { type ListenerOptions, startListeners } from './compose/listeners.ts';
import { buildModules } from './compose/modules.ts';
import { configReloader } from './compose/reload.ts';
import { mountRoutes } from './compose/routes.ts';
import { stopList } from './compose/stop-list.ts';
import type { ResolvedConfig } from './config/index.ts';
import type { LiveConfig } from './config/live.ts';
import type { Gateway } from './gateway/index.ts';
import type { KeysService } from './keys/index.ts';
import type { Metering } from './metering/index.ts';
import type { Mailer, UsageThresholds, WebhookService } from './notify/index.ts';
import type { Portal } from './portal/index.ts';
import type { CounterStore } from './ratelimit/types.ts';
import type { ChangeFeed, Store } from './store/index.ts';
import type { CachingAccessResolver, CustomerService, SubscriptionService } from './subscriptions/index.ts';
import type { Clock } from './util/clock.ts';
import type { Logger } from './util/log.ts';

/**
 * Composition root, in phases, each in its own file under src/compose/:
 * 1. backends (store, change feed, counters, scale-out connections, the live config);
 * 2. modules (catalog … billing, keys, gateway), each built once with what it needs;
 * 3. routes on the console listener (and the portal, which is mostly routes);
 * 4. jobs, on one scheduler;
 * 5. listeners (gateway, console, health port), last, so nothing answers before it is wired.
 * Stopping undoes them in reverse; a start that fails half way undoes what it had done.
 */
export interface StartOptions extends BackendOptions, ListenerOptions {}

/** Everything the modules share. */
export interface Runtime {
  /** The config in force (replaced by dev-mode reloads). */
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
  /** The config as a live value (`current()`, `onChange`). */
  readonly config: LiveConfig;
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
  /** The gateway data plane (listening only for roles 'all' and 'gateway'). */
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
  /** The timer loops of this process (billing, budgets, usage thresholds). */
  readonly jobs: Scheduler;
  /** Applies an edited config as `tollgate dev` does on a file change. */
  reloadConfig(next: ResolvedConfig): Promise<void>;
  stop(): Promise<void>;
}

export async function startTollgate(options: StartOptions): Promise<Tollgate> {
  const role = options.role ?? 'all';
  const stopping = stopList((error) => options.log?.error({ err: error }, 'stop failed'));
  // Where the listeners ended up: known in phase 5, read by links built in earlier phases.
  const listening: { gateway: string | null; console: string | null } = { gateway: null, console: null };
  try {
    const b = await openBackends(
      { ...options, dev: options.dev ?? options.watchConfig !== undefined },
      stopping,
    );
    const consoleBase = () => {
      const { console } = b.config.current();
      return console.publicUrl ?? listening.console ?? `http://${console.host}:${console.port}`;
    };
    const m = await buildModules(b, consoleBase, stopping);
    const r = mountRoutes(b, m, () => listening.gateway, stopping);
    const jobs = startJobs(b, m, r, stopping);
    const reloadConfig = configReloader(b, m);

    // Phase 5: listeners.
    const healthUrl = await startListeners(options, role, b, m, r, reloadConfig, stopping, listening);

    const runtime: Runtime = {
      get config() {
        return b.config.current();
      },
      store: b.store,
      changes: b.changes,
      clock: b.clock,
      log: b.log,
      dataDir: b.dataDir,
      adminToken: b.adminToken,
    };
    return {
      runtime,
      config: b.config,
      portal: r.portal,
      keys: m.keys,
      counters: b.counters,
      gateway: m.gateway,
      metrics: m.metrics,
      metering: m.metering,
      catalog: m.catalog,
      customers: m.customers,
      subscriptions: m.subscriptions,
      access: m.access,
      billing: m.billing,
      webhooks: m.webhooks,
      mailer: m.mailer,
      usageThresholds: m.usageThresholds,
      jobs,
      gatewayUrl: listening.gateway,
      consoleUrl: listening.console,
      healthUrl,
      consoleApp: r.consoleApp,
      reloadConfig,
      stop: () => stopping.stopAll(),
    };
  } catch (error) {
    await stopping.stopAll();
    throw error;
  }
}
