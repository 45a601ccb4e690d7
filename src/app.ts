import { join, resolve } from 'node:path';
import { type ServerType, serve } from '@hono/node-server';
import type { Hono } from 'hono';
import { resolveAdminToken } from './admin/auth.ts';
import type { ResolvedConfig } from './config/index.ts';
import { createConsoleApp } from './http/hono.ts';
import { createPortal, type Portal, type PortalPorts } from './portal/index.ts';
import { type ChangeFeed, memoryChangeFeed, migrate, openStore, type Store } from './store/index.ts';
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
  readonly consoleApp: Hono;
  /** The developer portal (spend-cap check for the AccessResolver, budget evaluation). */
  readonly portal: Portal;
  stop(): Promise<void>;
}

interface Stoppable {
  stop(): Promise<void> | void;
}

function listen(app: Hono, port: number, host: string): Promise<ServerType> {
  return new Promise((resolveListen) => {
    const server = serve({ fetch: app.fetch, port, hostname: host }, () => resolveListen(server));
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
  const changes = memoryChangeFeed();
  stopping.push({ stop: () => changes.close() });

  const adminToken = resolveAdminToken(config, dataDir);
  const runtime: Runtime = { config, store, changes, clock, log, dataDir, adminToken };
  const consoleApp = createConsoleApp(log);
  consoleApp.get('/healthz', (c) => c.json({ status: 'ok' }));
  consoleApp.get('/readyz', async (c) => {
    await store.query('select 1');
    return c.json({ status: 'ready', store: store.kind });
  });

  // Modules are wired here as they land (keys, counters, metering, catalog, subscriptions,
  // billing, notify, portal, admin, gateway).

  // Developer portal: SPA at `/`, `/api/portal/*`. Modules fill `portalPorts` (adapters in
  // src/portal/wire.ts) as they are wired; the portal reads them on every request.
  const portalPorts: PortalPorts = {};
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
  });
  stopping.push(portal);

  const gatewayUrl: string | null = null;
  let consoleUrl: string | null = null;
  if (role === 'all' || role === 'console') {
    const host = config.console.host;
    const server = await listen(consoleApp, options.consolePort ?? config.console.port, host);
    stopping.push({ stop: () => new Promise<void>((r) => server.close(() => r())) });
    consoleUrl = urlOf(server, host);
  }

  portalGatewayUrl = gatewayUrl;
  return {
    runtime,
    portal,
    gatewayUrl,
    consoleUrl,
    consoleApp,
    async stop() {
      for (const s of stopping.reverse()) await s.stop();
    },
  };
}
