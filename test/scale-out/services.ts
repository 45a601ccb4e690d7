/**
 * The real services the scale-out tests use. Under CI=true a missing service fails the test;
 * elsewhere the test is skipped with a message saying which service is missing.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const DATABASE_URL =
  process.env.TOLLGATE_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const REDIS_URL = process.env.TOLLGATE_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
export const NATS_URL = process.env.TOLLGATE_TEST_NATS_URL ?? 'nats://127.0.0.1:4222';

/** A name no other test (or earlier run) uses: for key prefixes, streams, channels, schemas. */
export const uniqueName = (prefix: string) =>
  `${prefix}_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;

function hostPort(url: string, defaultPort: number): { host: string; port: number } {
  const u = new URL(url);
  return { host: u.hostname || '127.0.0.1', port: Number(u.port || defaultPort) };
}

export function reachable(url: string, defaultPort: number, timeoutMs = 1000): Promise<boolean> {
  const { host, port } = hostPort(url, defaultPort);
  return new Promise((resolve) => {
    const socket = new Socket();
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('error', () => done(false));
    socket.connect(port, host, () => done(true));
  });
}

/** True when the tests may run; throws under CI when a service is missing (never skip in CI). */
export async function servicesAvailable(...which: ('postgres' | 'redis' | 'nats')[]): Promise<boolean> {
  const checks = {
    postgres: [DATABASE_URL, 5432],
    redis: [REDIS_URL, 6379],
    nats: [NATS_URL, 4222],
  } as const;
  for (const name of which) {
    const [url, port] = checks[name];
    if (!(await reachable(url, port))) {
      const message = `${name} is not reachable at ${url} (run: bash scripts/services.sh)`;
      if (process.env.CI === 'true') throw new Error(message);
      console.warn(`skipping: ${message}`);
      return false;
    }
  }
  return true;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

async function waitForPort(port: number, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await reachable(`tcp://127.0.0.1:${port}`, port, 200)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nothing listens on port ${port} after ${timeoutMs} ms`);
}

/**
 * A private redis-server or nats-server on a free port, which a test may stop and restart
 * (the shared services stay up for the other tests).
 */
export interface DedicatedServer {
  readonly url: string;
  readonly port: number;
  start(): Promise<void>;
  /** SIGKILL: nothing is flushed, as in a crash. */
  kill(): Promise<void>;
  close(): Promise<void>;
}

export async function dedicatedServer(kind: 'redis' | 'nats'): Promise<DedicatedServer> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), `tollgate-${kind}-`));
  let child: ReturnType<typeof spawn> | null = null;
  const args =
    kind === 'redis'
      ? ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir]
      : ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', dir];
  const bin = kind === 'redis' ? 'redis-server' : 'nats-server';
  const server: DedicatedServer = {
    url: `${kind}://127.0.0.1:${port}`,
    port,
    async start() {
      child = spawn(bin, args, { stdio: 'ignore' });
      await waitForPort(port);
    },
    async kill() {
      const c = child;
      child = null;
      if (!c || c.exitCode !== null) return;
      const exited = new Promise((r) => c.once('exit', r));
      c.kill('SIGKILL');
      await exited;
    },
    async close() {
      await server.kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await server.start();
  return server;
}
