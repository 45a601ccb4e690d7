import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { afterAll, describe, expect, it } from 'vitest';
import { startTollgate, type Tollgate } from '../../src/app.ts';
import { resolveConfig } from '../../src/config/load.ts';
import type { UsageEvent } from '../../src/metering/events.ts';
import { openJetStreamUsageLog } from '../../src/metering/jetstream.ts';
import { createLogger } from '../../src/util/log.ts';
import { DATABASE_URL, freePort, NATS_URL, servicesAvailable, uniqueName } from './services.ts';

/**
 * Issue 12, "Also in scale-out": what an operator sees.
 * - The usage stream's size and retention are settings (applied to an existing stream too), and
 *   /readyz warns before the limit.
 * - The console's /readyz reports every backend it was given, NATS included.
 * - A gateway started while NATS is down says so in one line and exits (no stack trace, no
 *   listener left half up).
 * - A CLI command on PostgreSQL leaves no timer behind (it used to wait 5 s after its output).
 */
const available = await servicesAvailable('postgres', 'nats');
const MAIN = resolve(import.meta.dirname, '../../src/cli/main.ts');
const dirs: string[] = [];
const tempDir = () => {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-ops-'));
  dirs.push(dir);
  return dir;
};
const streams: string[] = [];
const running: Tollgate[] = [];

afterAll(async () => {
  for (const tollgate of running) await tollgate.stop();
  if (streams.length > 0) {
    const nc = await connect({ servers: NATS_URL });
    const jsm = await jetstreamManager(nc);
    for (const stream of streams) await jsm.streams.delete(stream).catch(() => {});
    await nc.close();
  }
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function configWith(stream: string, limits: Record<string, unknown> = {}) {
  const dir = tempDir();
  return resolveConfig(
    {
      upstream: 'http://127.0.0.1:9',
      admin: { token: 'operations-admin-token-0123456789' },
      scaleOut: {
        usageStream: stream,
        usageSubject: `tgops.${stream.toLowerCase()}`,
        usageStreamLimits: limits,
      },
    },
    join(dir, 'tollgate.config.ts'),
    dir,
  );
}

const event = (i: number): UsageEvent => ({
  specversion: '1.0',
  id: `ops-${i}`,
  source: 'operations-test',
  type: 'request',
  subject: 'cus_ops',
  time: new Date().toISOString(),
  data: { route: '/v1/ops', padding: 'x'.repeat(400) },
});

describe.skipIf(!available)('scale-out operations', () => {
  it('applies the configured stream limits to an existing stream and warns on /readyz before the limit', async () => {
    const stream = uniqueName('TGOPS');
    streams.push(stream);
    const subject = `tgops.${stream.toLowerCase()}`;
    // A stream made by an older version: no size limit.
    const nc = await connect({ servers: NATS_URL });
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: stream, subjects: [`${subject}.>`] });

    const config = configWith(stream, { maxBytes: '64KiB', maxAge: 'PT6H', discard: 'new', warnAt: 0.5 });
    const tollgate = await startTollgate({
      config,
      database: ':memory:',
      dataDir: tempDir(),
      nats: NATS_URL,
      role: 'worker',
      healthPort: 0,
      log: createLogger({ level: 'silent' }),
    });
    running.push(tollgate);
    const info = await jsm.streams.info(stream);
    expect(info.config.max_bytes).toBe(64 * 1024);
    expect(info.config.max_age).toBe(6 * 3600 * 1e9);
    expect(info.config.discard).toBe('new');

    const readyz = async () => {
      const res = await fetch(`${tollgate.healthUrl}/readyz`);
      return { status: res.status, body: (await res.json()) as { warnings?: string[]; backends: object } };
    };
    expect((await readyz()).body.warnings).toBeUndefined();

    // Fill the stream past half of its limit (each event is ~600 bytes stored).
    const log = await openJetStreamUsageLog({
      url: NATS_URL,
      stream,
      subject,
      maxBytes: 64 * 1024,
      discard: 'new',
      maxAgeMs: 6 * 3600_000,
    });
    await log.append(Array.from({ length: 70 }, (_, i) => event(i)));
    await log.close();
    await expect
      .poll(async () => (await readyz()).body.warnings?.join(' ') ?? '', { timeout: 30_000 })
      .toMatch(/usageStream: the usage stream is \d+\.\d% full/);
    // A warning is not a failure: the node keeps serving.
    expect((await readyz()).status).toBe(200);
    const metrics = await (await fetch(`${tollgate.healthUrl}/metrics`)).text();
    const pressure = Number(/^tollgate_usage_stream_pressure (\S+)$/m.exec(metrics)?.[1]);
    expect(pressure).toBeGreaterThan(0.5);
    await nc.close();
  }, 120_000);

  it("the console's /readyz reports NATS as well as the store", async () => {
    const stream = uniqueName('TGOPS');
    streams.push(stream);
    const tollgate = await startTollgate({
      config: configWith(stream),
      database: ':memory:',
      dataDir: tempDir(),
      nats: NATS_URL,
      role: 'console',
      consolePort: 0,
      log: createLogger({ level: 'silent' }),
    });
    running.push(tollgate);
    const res = await fetch(`${tollgate.consoleUrl}/readyz`);
    const body = (await res.json()) as { backends: Record<string, { ok: boolean; kind: string }> };
    expect(body.backends.store?.ok).toBe(true);
    expect(body.backends.nats).toEqual({ ok: true, kind: 'jetstream' });
  }, 120_000);

  it('a gateway started while NATS is down says so in one line and exits', async () => {
    const dir = tempDir();
    const file = join(dir, 'tollgate.config.ts');
    writeFileSync(file, `export default { upstream: 'http://127.0.0.1:9', gateway: { port: 0 } };\n`);
    const deadPort = await freePort();
    const database = await freshSchema();
    const child = spawn(
      process.execPath,
      [
        MAIN,
        '-c',
        file,
        '--database',
        database.url,
        '--nats',
        `nats://127.0.0.1:${deadPort}`,
        'start',
        '--role',
        'gateway',
      ],
      {
        env: { ...process.env, NO_COLOR: '1', TOLLGATE_LOG_LEVEL: 'silent' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    const code = await new Promise<number | null>((r) => child.once('exit', r));
    await database.drop();
    expect(code).not.toBe(0);
    expect(stderr.trim()).toMatch(
      new RegExp(`^cannot reach NATS at nats://127\\.0\\.0\\.1:${deadPort}/?: .+$`),
    );
    expect(stderr.trim().split('\n')).toHaveLength(1);
    expect(stdout).not.toContain('gateway ');
  }, 120_000);

  it('a CLI command on PostgreSQL leaves no timer running once it is done', async () => {
    const database = await freshSchema();
    // What `withTollgate` does for every CLI command: open (role 'cli'), work, stop.
    const script = `
      import { startTollgate } from ${JSON.stringify(resolve(import.meta.dirname, '../../src/app.ts'))};
      import { resolveConfig } from ${JSON.stringify(resolve(import.meta.dirname, '../../src/config/load.ts'))};
      const config = resolveConfig({ upstream: 'http://127.0.0.1:9' }, '/tmp/tollgate.config.ts', '/tmp');
      const tollgate = await startTollgate({ config, database: ${JSON.stringify(database.url)}, role: 'cli', dataDir: ${JSON.stringify(tempDir())} });
      await tollgate.customers.list({});
      await tollgate.stop();
      console.log(JSON.stringify(process.getActiveResourcesInfo()));
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      env: { ...process.env, TOLLGATE_LOG_LEVEL: 'silent' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
    });
    const code = await new Promise<number | null>((r) => child.once('exit', r));
    await database.drop();
    expect(code).toBe(0);
    const resources = JSON.parse(out.trim().split('\n').at(-1) ?? '[]') as string[];
    expect(resources.filter((r) => r === 'Timeout')).toEqual([]);
  }, 120_000);
});

/** A schema of its own on the shared PostgreSQL, and a URL whose search_path points at it. */
async function freshSchema(): Promise<{ url: string; drop: () => Promise<void> }> {
  const { default: pg } = await import('pg');
  const schema = uniqueName('t_ops').toLowerCase();
  const run = async (sql: string) => {
    const client = new pg.Client({ connectionString: DATABASE_URL });
    await client.connect();
    await client.query(sql);
    await client.end();
  };
  await run(`create schema ${schema}`);
  const url = new URL(DATABASE_URL);
  url.searchParams.set('options', `-c search_path=${schema}`);
  return { url: url.toString(), drop: () => run(`drop schema ${schema} cascade`) };
}
