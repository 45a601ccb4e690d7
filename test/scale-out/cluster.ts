/**
 * Multi-process harness: a private PostgreSQL database, Redis key prefix, JetStream stream and
 * NOTIFY channel per test file; a local upstream; Tollgate processes started exactly as an
 * operator would (`node src/cli/main.ts start --role …`).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterEach } from 'vitest';
import {
  DATABASE_URL,
  type DedicatedServer,
  dedicatedServer,
  NATS_URL,
  REDIS_URL,
  uniqueName,
} from './services.ts';

const MAIN = join(import.meta.dirname, '../../src/cli/main.ts');

export interface Installation {
  readonly name: string;
  readonly databaseUrl: string;
  readonly redisUrl: string;
  readonly natsUrl: string;
  readonly configFile: string;
  readonly dir: string;
  readonly upstreamUrl: string;
  /** Requests the upstream answered. */
  upstreamHits(): number;
  /** Raw SQL on the installation's database. */
  sql<Row = Record<string, unknown>>(text: string, params?: unknown[]): Promise<Row[]>;
  cleanup(): Promise<void>;
}

export interface InstallationOptions {
  /** Defaults to the shared services; tests that restart a backend pass a dedicated one. */
  redisUrl?: string;
  natsUrl?: string;
  /** Extra text inside `scaleOut: { … }`. */
  scaleOut?: string;
  /** Upstream delay per response (ms), to keep requests in flight. */
  upstreamDelayMs?: number;
  /** Use this upstream instead of starting one (benchmarks point at nginx). */
  upstreamUrl?: string;
}

function startUpstream(delayMs: number): Promise<{ server: Server; url: string; hits: () => number }> {
  let hits = 0;
  const body = JSON.stringify({ ok: true, items: [1, 2, 3] });
  const server = createServer((req, res) => {
    hits++;
    req.resume();
    const answer = () => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    };
    if (delayMs > 0) setTimeout(answer, delayMs);
    else answer();
  });
  server.keepAliveTimeout = 60_000;
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      resolve({ server, url: `http://127.0.0.1:${port}`, hits: () => hits });
    });
  });
}

/**
 * Plans of the test config:
 * - `quota`: 100 requests per month, hard; a high rate limit so only the quota bites.
 * - `limited`: 50 requests per minute (burst 50) across all nodes; unlimited quota.
 * - `open`: metered, no limit that a test reaches.
 */
function configText(upstream: string, name: string, scaleOut: string): string {
  return `export default {
  name: 'scale-out test',
  upstream: '${upstream}',
  gateway: { port: 0 },
  console: { port: 0 },
  admin: { token: 'scale-out-test-admin-token' },
  routes: [{ method: '*', path: '/v1/*', feature: 'api_requests' }],
  meters: [{ slug: 'requests', eventType: 'request', aggregation: 'COUNT', groupBy: { route: '$.route' } }],
  features: [{ key: 'api_requests', name: 'API requests', meter: 'requests' }],
  plans: [
    {
      key: 'quota',
      name: 'Quota',
      rateLimit: { limit: 100000, window: '1m' },
      rateCards: [{ key: 'requests', feature: 'api_requests', entitlement: { type: 'metered', limit: 100, usagePeriod: 'P1M' } }],
    },
    {
      key: 'limited',
      name: 'Limited',
      rateLimit: { limit: 50, window: '1m' },
      rateCards: [{ key: 'requests', feature: 'api_requests', entitlement: { type: 'metered', softLimit: true } }],
    },
    {
      key: 'open',
      name: 'Open',
      rateLimit: { limit: 1000000, window: '1m' },
      rateCards: [{ key: 'requests', feature: 'api_requests', entitlement: { type: 'metered', softLimit: true } }],
    },
  ],
  scaleOut: {
    redisKeyPrefix: '${name}:',
    usageStream: '${name.toUpperCase()}',
    usageSubject: 'tgtest.${name}',
    changeChannel: '${name}',
    ${scaleOut}
  },
};
`;
}

export async function createInstallation(options: InstallationOptions = {}): Promise<Installation> {
  const name = uniqueName('tgso').toLowerCase();
  const admin = new pg.Client({ connectionString: DATABASE_URL });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();
  const base = new URL(DATABASE_URL);
  base.pathname = `/${name}`;
  const databaseUrl = base.toString();
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 2 });
  pool.on('error', () => {}); // tests terminate connections on purpose
  const upstream = options.upstreamUrl
    ? { server: null, url: options.upstreamUrl, hits: () => 0 }
    : await startUpstream(options.upstreamDelayMs ?? 0);
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-scale-out-'));
  const configFile = join(dir, 'tollgate.config.ts');
  writeFileSync(configFile, configText(upstream.url, name, options.scaleOut ?? ''));
  const redisUrl = options.redisUrl ?? REDIS_URL;
  const natsUrl = options.natsUrl ?? NATS_URL;

  return {
    name,
    databaseUrl,
    redisUrl,
    natsUrl,
    configFile,
    dir,
    upstreamUrl: upstream.url,
    upstreamHits: upstream.hits,
    sql: async (text, params) => (await pool.query(text, params)).rows,
    async cleanup() {
      const server = upstream.server;
      if (server) {
        server.closeAllConnections();
        await new Promise((r) => server.close(r));
      }
      await pool.end();
      const adminClient = new pg.Client({ connectionString: DATABASE_URL });
      await adminClient.connect();
      // Closed pools end their sockets a moment later; dropping with (force) before that would
      // kill a connection this process still holds (an uncaught error in the test run).
      for (let i = 0; i < 100; i++) {
        const { rows } = await adminClient.query(
          'select count(*)::int as n from pg_stat_activity where datname = $1 and client_port is not null and pid <> pg_backend_pid()',
          [name],
        );
        if (rows[0].n === 0) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      await adminClient.query(`drop database if exists ${name} with (force)`);
      await adminClient.end();
      if (redisUrl === REDIS_URL) {
        const redis = new Redis(REDIS_URL);
        const keys = await redis.keys(`${name}:*`);
        if (keys.length > 0) await redis.del(...keys);
        redis.disconnect();
      }
      if (natsUrl === NATS_URL) {
        const nc = await connect({ servers: NATS_URL });
        await (await jetstreamManager(nc)).streams.delete(name.toUpperCase()).catch(() => {});
        await nc.close();
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface TollgateProcess {
  readonly role: string;
  readonly child: ChildProcess;
  readonly gatewayUrl: string | null;
  readonly consoleUrl: string | null;
  /** Set when started with `--health-port`. */
  readonly healthUrl: string | null;
  output(): string;
  /** SIGKILL: no shutdown code runs, as in a crash. */
  kill(): Promise<void>;
  /** SIGTERM and wait for exit. */
  stop(): Promise<void>;
}

/** Starts `tollgate start --role <role>` and resolves once it printed its URLs. */
export async function startProcess(
  install: Installation,
  role: 'gateway' | 'worker' | 'console' | 'all',
  extraArgs: string[] = [],
  options: { embedded?: boolean } = {},
): Promise<TollgateProcess> {
  const backends = options.embedded
    ? ['--data-dir', join(install.dir, '.tollgate')]
    : ['--database', install.databaseUrl, '--redis', install.redisUrl, '--nats', install.natsUrl];
  const args = [MAIN, '--config', install.configFile, ...backends, 'start', '--role', role, ...extraArgs];
  const child = spawn(process.execPath, args, {
    cwd: install.dir,
    env: {
      ...process.env,
      TOLLGATE_LOG_LEVEL: process.env.TOLLGATE_TEST_LOG_LEVEL ?? 'warn',
      VITEST: '',
      NO_COLOR: '1',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (d) => {
    out += d;
  });
  child.stderr?.on('data', (d) => {
    out += d;
  });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const wantGateway = role === 'gateway' || role === 'all';
  const wantConsole = role === 'console' || role === 'all';
  const wantHealth = extraArgs.includes('--health-port');
  // A ceiling, not an expectation: start-up takes well over 30 s on a loaded 2-core machine.
  const deadline = Date.now() + 120_000;
  // biome-ignore lint/suspicious/noControlCharactersInRegex: strips colour codes (CI=true turns colours on).
  const plain = () => out.replace(/\x1b\[[0-9;]*m/g, '');
  const find = (label: string) => new RegExp(`${label}\\s+(http://[\\d.:]+)`).exec(plain())?.[1] ?? null;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`tollgate --role ${role} exited at start:\n${out}`);
    const started = out.includes('Tollgate');
    if (
      started &&
      (!wantGateway || find('gateway')) &&
      (!wantConsole || find('portal')) &&
      (!wantHealth || find('health'))
    )
      break;
    if (Date.now() > deadline) throw new Error(`tollgate --role ${role} did not start in 120 s:\n${out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    role,
    child,
    gatewayUrl: find('gateway'),
    consoleUrl: find('portal')?.replace(/\/$/, '') ?? null,
    healthUrl: find('health'),
    output: () => out,
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

/** Creates a customer on `plan` with a key, through the modules (as `tollgate` CLI commands do). */
export async function provisionCustomer(
  install: Installation,
  plan: string,
  options: { embedded?: boolean } = {},
): Promise<{ key: string; keyId: string }> {
  const { loadConfig } = await import('../../src/config/index.ts');
  const { startTollgate } = await import('../../src/app.ts');
  const config = await loadConfig(install.configFile);
  const tollgate = await startTollgate(
    options.embedded
      ? { config, dataDir: join(install.dir, '.tollgate'), role: 'cli' }
      : { config, database: install.databaseUrl, role: 'cli' },
  );
  try {
    await tollgate.catalog.sync(config); // as `tollgate plans push` (idempotent)
    const customer = await tollgate.customers.create({ name: `customer on ${plan}` });
    const subscription = await tollgate.subscriptions.subscribe({ customerId: customer.id, planKey: plan });
    const created = await tollgate.keys.create({ customerId: customer.id, subscriptionId: subscription.id });
    return { key: created.secret, keyId: created.key.id };
  } finally {
    await tollgate.stop();
  }
}

export interface Outcome {
  status: number;
  /** The whole body arrived (the response was received in full). */
  complete: boolean;
  requestId: string | null;
  body: string;
}

/** One request; network errors and truncated bodies are reported, not thrown. */
export async function call(
  url: string,
  key: string,
  path = '/v1/things',
  headers: Record<string, string> = {},
): Promise<Outcome> {
  try {
    const res = await fetch(`${url}${path}`, { headers: { ...headers, authorization: `Bearer ${key}` } });
    const requestId = res.headers.get('x-request-id');
    try {
      const body = await res.text();
      const expected = res.headers.get('content-length');
      const complete = expected === null || Buffer.byteLength(body) === Number(expected);
      return { status: res.status, complete, requestId, body };
    } catch {
      return { status: res.status, complete: false, requestId, body: '' };
    }
  } catch (error) {
    // No answer at all; the body says why, for a test's failure message.
    return { status: 0, complete: false, requestId: null, body: String((error as Error).cause ?? error) };
  }
}

export async function waitFor(
  check: () => boolean | Promise<boolean>,
  timeoutMs = 60_000,
  what = 'condition',
) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Concurrent clients calling whichever gateway URLs are current until stopped. */
export function load(urls: () => string[], key: string, concurrency: number) {
  const outcomes: Outcome[] = [];
  let running = true;
  const loops = Array.from({ length: concurrency }, async (_, i) => {
    let n = i;
    while (running) {
      const list = urls();
      outcomes.push(await call(list[n++ % list.length] as string, key));
    }
  });
  return {
    outcomes,
    async stop() {
      running = false;
      await Promise.all(loops);
      return outcomes;
    },
  };
}

export interface Reconciliation {
  receivedInFull: number;
  metered: number;
  missing: string[];
  /** Metered requests whose response the client did not get in full (cut by a crash). */
  extra: number;
  failed: number;
}

export async function reconcile(install: Installation, outcomes: Outcome[]): Promise<Reconciliation> {
  const full = outcomes.filter((o) => o.status === 200 && o.complete && o.requestId);
  const failed = outcomes.filter((o) => !(o.status === 200 && o.complete)).length;
  const expectedIds = new Set(full.map((o) => `${o.requestId}/request`));
  let rows: { id: string }[] = [];
  // The worker catches up (the stream holds what it has not written yet).
  await waitFor(
    async () => {
      rows = await install.sql<{ id: string }>("select id from usage_events where type = 'request'");
      const ids = new Set(rows.map((r) => r.id));
      return [...expectedIds].every((id) => ids.has(id));
    },
    30_000,
    'the meters to contain every response received in full',
  ).catch(() => {});
  const ids = new Set(rows.map((r) => r.id));
  return {
    receivedInFull: full.length,
    metered: rows.length,
    missing: [...expectedIds].filter((id) => !ids.has(id)),
    extra: [...ids].filter((id) => !expectedIds.has(id)).length,
    failed,
  };
}

/**
 * The installation, Tollgate processes and dedicated servers of one test, torn down after each
 * test. Call it inside a `describe`.
 */
export function clusterPerTest() {
  let install: Installation | undefined;
  let processes: TollgateProcess[] = [];
  let servers: DedicatedServer[] = [];
  afterEach(async () => {
    for (const p of processes) await p.kill();
    for (const s of servers) await s.close();
    await install?.cleanup();
    processes = [];
    servers = [];
    install = undefined;
  });
  return {
    async install(options: InstallationOptions = {}): Promise<Installation> {
      install = await createInstallation(options);
      return install;
    },
    async start(role: 'gateway' | 'worker', extraArgs: string[] = []): Promise<TollgateProcess> {
      const p = await startProcess(install as Installation, role, extraArgs);
      processes.push(p);
      return p;
    },
    async server(kind: 'redis' | 'nats'): Promise<DedicatedServer> {
      const s = await dedicatedServer(kind);
      servers.push(s);
      return s;
    },
  };
}
