import type { Server } from 'node:http';
import { type ServerType, serve } from '@hono/node-server';
import type { OpenAPIHono } from '@hono/zod-openapi';
import type { Hono } from 'hono';
import { startHealthServer } from '../cluster/health.ts';
import type { ResolvedConfig } from '../config/index.ts';
import { watchConfig } from '../config/watch.ts';
import { answerClientErrors } from '../http/client-errors.ts';
import type { Backends, StartRole } from './backends.ts';
import type { Modules } from './modules.ts';
import type { Routes } from './routes.ts';
import type { StopList } from './stop-list.ts';

/** Phase 5 of start-up: the listeners, last, so nothing answers before it is wired. */
export interface ListenerOptions {
  /** Ports override the config (0 = any free port, for tests). */
  gatewayPort?: number;
  consolePort?: number;
  /** Dev mode: reload this config file when it changes, without dropping in-flight requests. */
  watchConfig?: string;
  /** Scale-out: serve /healthz, /readyz and /metrics on this port (gateway and worker roles have no console). */
  healthPort?: number;
  /**
   * Extra console routes, mounted before it listens (the CLI's `POST /api/admin/cli`); a route
   * under /api/admin registers itself in `adminRegistry` so the admin OpenAPI document lists it.
   */
  routes?: (consoleApp: Hono, adminRegistry: OpenAPIHono['openAPIRegistry']) => void;
}

/** Where the listeners ended up: known here, read by links that earlier phases built. */
export interface Listening {
  gateway: string | null;
  console: string | null;
}

/** Opens the role's listeners (and the health port, and the config watcher); returns the health URL. */
export async function startListeners(
  options: ListenerOptions,
  role: StartRole,
  b: Backends,
  m: Modules,
  r: Routes,
  reloadConfig: (next: ResolvedConfig) => Promise<void>,
  stopping: StopList,
  listening: Listening,
): Promise<string | null> {
  const config = b.config.current();
  if (role === 'all' || role === 'gateway') {
    listening.gateway = await m.gateway.listen(
      options.gatewayPort ?? config.gateway.port,
      config.gateway.host,
    );
    stopping.push(() => m.gateway.close());
  }
  if (role === 'all' || role === 'console') {
    options.routes?.(r.consoleApp, r.adminRegistry);
    const host = config.console.host;
    const server = await listen(
      r.consoleApp,
      options.consolePort ?? config.console.port,
      host,
      config.console.limits,
    );
    stopping.push(() => new Promise<void>((done) => server.close(() => done())));
    listening.console = urlOf(server, host);
  }
  let healthUrl: string | null = null;
  if (options.healthPort !== undefined && role !== 'cli') {
    const health = await startHealthServer({
      port: options.healthPort,
      role,
      registry: m.metrics,
      checks: r.checks,
    });
    stopping.push(() => new Promise<void>((done) => health.server.close(() => done())));
    healthUrl = health.url;
  }
  if (options.watchConfig && role !== 'cli') {
    const watcher = watchConfig(options.watchConfig, reloadConfig, (message, error) =>
      error ? b.log.error(message) : b.log.info(message),
    );
    stopping.push(() => watcher.close());
  }
  return healthUrl;
}

/** The console listener; slow clients are cut off by the `console.limits` timeouts. */
function listen(
  app: Hono,
  port: number,
  host: string,
  limits: ResolvedConfig['console']['limits'],
): Promise<ServerType> {
  return new Promise((resolveListen, reject) => {
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
          // How often Node looks for requests past those timeouts (its default, 30 s, would let a
          // slow client hold a connection that long whatever the limits say).
          connectionsCheckingInterval: Math.max(100, Math.min(1000, Math.floor(limits.headersTimeoutMs / 2))),
        },
      },
      () => resolveListen(server),
    );
    answerClientErrors(server as Server);
    server.once('error', reject);
  });
}

function urlOf(server: ServerType, host: string): string {
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return `http://${host}:${port}`;
}
