/**
 * `npm run bench:cluster`: Tollgate scale-out (two gateway processes on PostgreSQL, Redis and
 * NATS JetStream) against nginx with two workers proxying the same upstream on the same cores,
 * with the single-node embedded figures beside them; then the backends on their own (Redis
 * checks, JetStream acknowledged publishes, PostgreSQL NOTIFY latency), which is what the
 * scaling notes in deploy/README.md are computed from.
 *
 *   npm run bench:cluster -- [--duration 8] [--connections 64] [--only http|backends]
 *
 * Needs: wrk and nginx (scripts/ensure-nginx.sh), PostgreSQL/Redis/NATS (scripts/services.sh).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import pg from 'pg';
import { openJetStreamUsageLog } from '../src/metering/jetstream.ts';
import { RedisCounterStore } from '../src/ratelimit/redis.ts';
import { pgChangeFeed } from '../src/store/pg-changes.ts';
import {
  createInstallation,
  type Installation,
  provisionCustomer,
  startProcess,
  type TollgateProcess,
} from '../test/scale-out/cluster.ts';
import { DATABASE_URL, freePort, NATS_URL, REDIS_URL, uniqueName } from '../test/scale-out/services.ts';

const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '8' },
    connections: { type: 'string', default: '64' },
    only: { type: 'string' },
  },
});
const durationS = Number(args.duration);
const connections = Number(args.connections);
const log = (line: string) => process.stdout.write(`${line}\n`);

/** One wrk run: requests per second and latency percentiles (ms). */
export interface LoadResult {
  rps: number;
  p50: number;
  p99: number;
  requests: number;
  errors: number;
  /** Responses with a status other than 2xx/3xx. */
  non2xx: number;
}

function ms(text: string): number {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(text.trim());
  if (!m) return Number.NaN;
  const v = Number(m[1]);
  return m[2] === 'us' ? v / 1000 : m[2] === 'ms' ? v : m[2] === 's' ? v * 1000 : v * 60_000;
}

/** Runs `wrk --latency` against `url` (GET) and parses its report. */
export function wrk(
  url: string,
  options: { connections: number; threads?: number; durationS: number; headers?: Record<string, string> },
): Promise<LoadResult> {
  const args = [
    '--latency',
    '-t',
    String(options.threads ?? 1),
    '-c',
    String(options.connections),
    '-d',
    `${options.durationS}s`,
  ];
  for (const [k, v] of Object.entries(options.headers ?? {})) args.push('-H', `${k}: ${v}`);
  args.push(url);
  return new Promise((resolve, reject) => {
    const child = spawn('wrk', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.stderr.on('data', (d) => {
      out += d;
    });
    child.once('error', reject);
    child.once('exit', (code) => {
      if (code !== 0) return reject(new Error(`wrk exited with ${code}:\n${out}`));
      const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]);
      const requests = Number(/(\d+) requests in/.exec(out)?.[1] ?? 0);
      const p50 = ms(/\s50%\s+(\S+)/.exec(out)?.[1] ?? '');
      const p99 = ms(/\s99%\s+(\S+)/.exec(out)?.[1] ?? '');
      const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
      const errors = socket ? socket.slice(1).reduce((a, b) => a + Number(b), 0) : 0;
      const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
      resolve({ rps, p50, p99, requests, errors, non2xx });
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Backends on their own
// ---------------------------------------------------------------------------------------------

/** Runs `op` from `concurrency` loops for `seconds`; returns operations per second. */
async function throughput(concurrency: number, seconds: number, op: (i: number) => Promise<unknown>) {
  const until = performance.now() + seconds * 1000;
  let done = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, worker) => {
      let i = worker;
      while (performance.now() < until) {
        await op(i);
        i += concurrency;
        done++;
      }
    }),
  );
  return done / seconds;
}

export interface BackendFigures {
  redisRateLimitPerS: number;
  redisQuotaPerS: number;
  jetstreamAckedPerS: number;
  notifyP50Ms: number;
  notifyP99Ms: number;
  pgInsertPerS: number;
}

async function backends(seconds: number): Promise<BackendFigures> {
  const prefix = `${uniqueName('tgbench')}:`;
  const counters = new RedisCounterStore({ url: REDIS_URL, prefix });
  await counters.ready();
  const spec = { limit: 1_000_000, windowMs: 1000 };
  const redisRateLimitPerS = await throughput(256, seconds, (i) =>
    counters.rateLimit(`k${i % 10_000}`, spec, Date.now()),
  );
  const quota = { limit: 1e12, hard: true, resetAt: Date.now() + 3_600_000, seed: async () => 0 };
  const redisQuotaPerS = await throughput(256, seconds, (i) => counters.consume(`q${i % 10_000}`, 1, quota));
  const keys = await counters.redis.keys(`${prefix}*`);
  for (let i = 0; i < keys.length; i += 1000) await counters.redis.del(...keys.slice(i, i + 1000));
  await counters.close();

  const stream = uniqueName('TGBENCH');
  const usage = await openJetStreamUsageLog({
    url: NATS_URL,
    stream,
    subject: `tgbench.${stream.toLowerCase()}`,
  });
  const time = new Date().toISOString();
  const jetstreamAckedPerS = await throughput(256, seconds, async (i) =>
    usage.append([
      {
        specversion: '1.0',
        id: `bench-${i}/request`,
        source: 'bench',
        type: 'request',
        subject: `cus_${i % 1000}`,
        time,
        data: { route: '/v1/things', method: 'GET', status: 200, latencyMs: 1.2, key: 'key_1' },
      },
    ]),
  );
  await usage.close();
  const nc = await connect({ servers: NATS_URL });
  await (await jetstreamManager(nc)).streams.delete(stream).catch(() => {});
  await nc.close();

  const channel = uniqueName('tgbench').toLowerCase();
  const a = pgChangeFeed({ url: DATABASE_URL, channel });
  const b = pgChangeFeed({ url: DATABASE_URL, channel });
  await Promise.all([a.ready(), b.ready()]);
  const latencies: number[] = [];
  for (let i = 0; i < 300; i++) {
    const started = performance.now();
    await new Promise<void>((resolve) => {
      const off = b.subscribe((c) => {
        if (c.id !== String(i)) return;
        off();
        resolve();
      });
      void a.publish({ topic: 'keys', id: String(i) });
    });
    latencies.push(performance.now() - started);
  }
  await a.close();
  await b.close();
  latencies.sort((x, y) => x - y);

  // Idempotent batch inserts of usage events (the worker's write path, without rollups).
  const client = new pg.Client({ connectionString: DATABASE_URL });
  await client.connect();
  const table = uniqueName('tgbench_events');
  await client.query(
    `create table ${table} (source text, id text, type text, subject text, time timestamptz, data jsonb, primary key (source, id))`,
  );
  let n = 0;
  const started = performance.now();
  while (performance.now() - started < seconds * 1000) {
    const rows = Array.from({ length: 500 }, () => n++);
    await client.query(
      `insert into ${table} select 'bench', x::text, 'request', 'cus_1', now(), '{"route":"/v1/things"}'::jsonb
       from unnest($1::int[]) as x on conflict do nothing`,
      [rows],
    );
  }
  const pgInsertPerS = n / ((performance.now() - started) / 1000);
  await client.query(`drop table ${table}`);
  await client.end();

  return {
    redisRateLimitPerS,
    redisQuotaPerS,
    jetstreamAckedPerS,
    notifyP50Ms: latencies[Math.floor(latencies.length * 0.5)] ?? 0,
    notifyP99Ms: latencies[Math.floor(latencies.length * 0.99)] ?? 0,
    pgInsertPerS,
  };
}

// ---------------------------------------------------------------------------------------------
// HTTP: direct, nginx ×2 workers, Tollgate scale-out ×2 gateway processes, Tollgate embedded
// ---------------------------------------------------------------------------------------------

interface Nginx {
  url: string;
  stop(): Promise<void>;
}

async function startNginx(body: string, workers: number): Promise<Nginx> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-bench-nginx-'));
  writeFileSync(
    join(dir, 'nginx.conf'),
    `worker_processes ${workers};
pid ${dir}/nginx.pid;
error_log ${dir}/error.log crit;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fcgi; uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;
  keepalive_requests 1000000;
  ${body.replace(/PORT/g, String(port))}
}
`,
  );
  const child = spawn('nginx', ['-p', dir, '-c', join(dir, 'nginx.conf'), '-g', 'daemon off;'], {
    stdio: 'ignore',
  });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    try {
      await fetch(`${url}/v1/things`);
      break;
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return {
    url,
    async stop() {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGQUIT');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

interface Row {
  name: string;
  result: LoadResult;
  note?: string;
}

async function http(): Promise<Row[]> {
  const rows: Row[] = [];
  const upstream = await startNginx(
    `server { listen 127.0.0.1:PORT; location / { default_type application/json; return 200 '{"ok":true,"items":[1,2,3]}'; } }`,
    1,
  );
  const run = async (name: string, url: string, headers?: Record<string, string>, note?: string) => {
    // Warm-up (connections, caches, JIT), then the measured run.
    await wrk(`${url}/v1/things`, { connections, durationS: 2, headers });
    const result = await wrk(`${url}/v1/things`, { connections, durationS, headers });
    rows.push({ name, result, note });
    log(
      `  ${name.padEnd(34)} ${result.rps.toFixed(0).padStart(8)} req/s  p50 ${result.p50.toFixed(2)} ms  p99 ${result.p99.toFixed(2)} ms${result.non2xx ? `  non-2xx ${result.non2xx}` : ''}`,
    );
    return result;
  };
  try {
    await run('direct (upstream, no proxy)', upstream.url);

    const proxy = await startNginx(
      `upstream u { server ${upstream.url.slice(7)}; keepalive 128; }
       server { listen 127.0.0.1:PORT; location / { proxy_pass http://u; proxy_http_version 1.1; proxy_set_header Connection ""; } }`,
      2,
    );
    await run('nginx proxy, 2 workers', proxy.url);
    await proxy.stop();

    // Scale-out: two gateway processes (node cluster) + one worker on PostgreSQL/Redis/NATS.
    const install = await createInstallation({ upstreamUrl: upstream.url });
    const processes: TollgateProcess[] = [];
    try {
      const { key } = await provisionCustomer(install, 'open');
      const gateway = await startProcess(install, 'gateway', ['--workers', '2']);
      processes.push(gateway);
      processes.push(await startProcess(install, 'worker'));
      const started = performance.now();
      const result = await run('tollgate scale-out, 2 gateways', gateway.gatewayUrl as string, {
        authorization: `Bearer ${key}`,
      });
      void result;
      // How far behind the worker is when the load stops, and how long it takes to catch up.
      const served = (await meteredTarget(install)) ?? 0;
      const drainStarted = performance.now();
      let metered = await meteredCount(install);
      while (metered < served && performance.now() - drainStarted < 120_000) {
        await new Promise((r) => setTimeout(r, 100));
        metered = await meteredCount(install);
      }
      const seconds = (performance.now() - started) / 1000;
      rows.push({
        name: 'worker: usage events written',
        result: { rps: metered / seconds, p50: 0, p99: 0, requests: metered, errors: 0, non2xx: 0 },
        note: `caught up ${((performance.now() - drainStarted) / 1000).toFixed(1)} s after the load stopped`,
      });
      log(
        `  worker wrote ${metered} events; caught up ${((performance.now() - drainStarted) / 1000).toFixed(1)} s after the load`,
      );
    } finally {
      for (const p of processes) await p.stop();
      await install.cleanup();
    }

    // Embedded: one process, PGlite + in-process counters + local usage log.
    const embedded = await createInstallation({ upstreamUrl: upstream.url });
    try {
      const { key } = await provisionCustomer(embedded, 'open', { embedded: true });
      const all = await startProcess(embedded, 'all', [], { embedded: true });
      try {
        await run('tollgate embedded, 1 process', all.gatewayUrl as string, {
          authorization: `Bearer ${key}`,
        });
      } finally {
        await all.stop();
      }
    } finally {
      await embedded.cleanup();
    }
  } finally {
    await upstream.stop();
  }
  return rows;
}

async function meteredCount(install: Installation): Promise<number> {
  const rows = await install.sql<{ n: number }>(
    "select count(*)::int as n from usage_events where type = 'request'",
  );
  return rows[0]?.n ?? 0;
}

/** Events the gateways published (the stream's message count) = what the worker must write. */
async function meteredTarget(install: Installation): Promise<number | null> {
  const nc = await connect({ servers: install.natsUrl });
  try {
    const info = await (await jetstreamManager(nc)).streams.info(install.name.toUpperCase());
    return info.state.messages;
  } catch {
    return null;
  } finally {
    await nc.close();
  }
}

// ---------------------------------------------------------------------------------------------

const cores = availableParallelism();
log(
  `Tollgate cluster benchmark — ${cores} cores (${cpus()[0]?.model ?? 'cpu'}), wrk -c ${connections} -d ${durationS}s`,
);
log('Everything (load generator, proxies, upstream, PostgreSQL, Redis, NATS) shares these cores.\n');

let rows: Row[] = [];
if (args.only !== 'backends') {
  log('HTTP (GET through each proxy to the same nginx upstream):');
  rows = await http();
  const find = (prefix: string) => rows.find((r) => r.name.startsWith(prefix))?.result.rps ?? Number.NaN;
  const nginx = find('nginx');
  log('\nRatios (req/s):');
  log(
    `  tollgate scale-out (2 gateways) / nginx (2 workers): ${(find('tollgate scale-out') / nginx).toFixed(2)}`,
  );
  log(
    `  tollgate embedded (1 process)   / nginx (2 workers): ${(find('tollgate embedded') / nginx).toFixed(2)}`,
  );
  log(
    `  tollgate scale-out / tollgate embedded:               ${(find('tollgate scale-out') / find('tollgate embedded')).toFixed(2)}`,
  );
}
if (args.only !== 'http') {
  log('\nBackends on their own (one client process):');
  const b = await backends(Math.max(2, Math.round(durationS / 2)));
  log(`  Redis GCRA check (Lua, pipelined)        ${b.redisRateLimitPerS.toFixed(0).padStart(8)} /s`);
  log(`  Redis quota consume (Lua, pipelined)     ${b.redisQuotaPerS.toFixed(0).padStart(8)} /s`);
  log(`  JetStream publish, acknowledged          ${b.jetstreamAckedPerS.toFixed(0).padStart(8)} /s`);
  log(`  PostgreSQL idempotent insert (500/batch) ${b.pgInsertPerS.toFixed(0).padStart(8)} /s`);
  log(
    `  LISTEN/NOTIFY delivery                   p50 ${b.notifyP50Ms.toFixed(2)} ms  p99 ${b.notifyP99Ms.toFixed(2)} ms`,
  );
}
