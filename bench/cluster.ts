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
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { openJetStreamUsageLog } from '../src/metering/jetstream.ts';
import { GCRA_LUA, QUOTA_LUA, RedisCounterStore } from '../src/ratelimit/redis.ts';
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
  redisServerGcraPerS: number;
  redisServerGcraUs: number;
  redisServerQuotaPerS: number;
  redisServerQuotaUs: number;
  natsServerUsPerEvent: number;
  natsClientUsPerEvent: number;
  writerClientUsPerEvent: number;
  pgServerUsPerEvent: number;
  jetstreamAckedPerS: number;
  notifyP50Ms: number;
  notifyP99Ms: number;
  pgInsertPerS: number;
}

async function backends(seconds: number): Promise<BackendFigures> {
  const prefix = `${uniqueName('tgbench')}:`;
  const counters = new RedisCounterStore({ url: REDIS_URL, prefix, commandTimeoutMs: 30_000 });
  await counters.ready();
  const spec = { limit: 1_000_000, windowMs: 1000 };
  const redisRateLimitPerS = await throughput(256, seconds, (i) =>
    counters.rateLimit(`k${i % 10_000}`, spec, Date.now()),
  );
  const quota = { limit: 1e12, hard: true, resetAt: Date.now() + 3_600_000, seed: async () => 0 };
  const redisQuotaPerS = await throughput(256, seconds, (i) => counters.consume(`q${i % 10_000}`, 1, quota));
  // The Redis server's own capacity for the scripts (many clients, pipelined): what one Redis
  // instance can answer for all gateway nodes together.
  const gcraSha = String(await counters.redis.script('LOAD', GCRA_LUA));
  const quotaSha = String(await counters.redis.script('LOAD', QUOTA_LUA));
  const redisPids = () => pgrep(['-f', `redis-server .*:${new URL(REDIS_URL).port || 6379}`]);
  const redisBench = (args: string[]) => {
    const cpuBefore = cpuMs(redisPids());
    try {
      const out = execFileSync(
        'redis-benchmark',
        [
          '-h',
          '127.0.0.1',
          '-p',
          new URL(REDIS_URL).port || '6379',
          '-c',
          '50',
          '-n',
          '300000',
          '-P',
          '16',
          '-r',
          '100000',
          '-q',
          ...args,
        ],
        { encoding: 'utf8' },
      );
      const perS = Number(/([\d.]+) requests per second/.exec(out)?.[1] ?? Number.NaN);
      // 300,000 calls: server CPU per call, i.e. the capacity of one Redis core.
      return { perS, serverUsPerCall: ((cpuMs(redisPids()) - cpuBefore) * 1000) / 300_000 };
    } catch {
      return { perS: Number.NaN, serverUsPerCall: Number.NaN };
    }
  };
  const now = String(Date.now());
  const redisServerGcra = redisBench([
    'evalsha',
    gcraSha,
    '1',
    `${prefix}rl:__rand_int__`,
    now,
    '60000',
    '1000000',
    '',
    '1',
  ]);
  const redisServerQuota = redisBench([
    'evalsha',
    quotaSha,
    '1',
    `${prefix}q:__rand_int__`,
    'consume',
    '1',
    '1000000000',
    '1',
    String(Date.now() + 3_600_000),
    '0',
  ]);
  for await (const batch of counters.redis.scanStream({ match: `${prefix}*`, count: 1000 })) {
    if ((batch as string[]).length > 0) await counters.redis.del(...(batch as string[]));
  }
  await counters.close();

  const stream = uniqueName('TGBENCH');
  const usage = await openJetStreamUsageLog({
    url: NATS_URL,
    stream,
    subject: `tgbench.${stream.toLowerCase()}`,
  });
  const time = new Date().toISOString();
  const natsPids = () => pgrep(['-f', `nats-server .*-p ${new URL(NATS_URL).port || 4222}`]);
  const natsCpuBefore = cpuMs(natsPids());
  const clientCpuBefore = process.cpuUsage();
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
  const published = jetstreamAckedPerS * seconds;
  const natsServerUsPerEvent = ((cpuMs(natsPids()) - natsCpuBefore) * 1000) / published;
  const clientCpu = process.cpuUsage(clientCpuBefore);
  const natsClientUsPerEvent = (clientCpu.user + clientCpu.system) / published;
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

  // The worker's write path: metering's idempotent batch writer (events + meter values +
  // minute/hour rollups in one transaction), 500 events per batch, on a fresh database.
  const install = await createInstallation();
  const { loadConfig } = await import('../src/config/index.ts');
  const { startTollgate } = await import('../src/app.ts');
  const tollgate = await startTollgate({
    config: await loadConfig(install.configFile),
    database: install.databaseUrl,
    role: 'cli',
  });
  let written = 0;
  // PostgreSQL's side: the server processes serving this (fresh, private) database.
  const backendPids = async () =>
    (
      await install.sql<{ pid: number }>('select pid from pg_stat_activity where datname = $1', [
        install.name,
      ])
    ).map((r) => r.pid);
  await tollgate.metering.ingest.writeBatch([]);
  const pgCpuBefore = cpuMs(await backendPids());
  const writeStarted = performance.now();
  const writerCpuBefore = process.cpuUsage();
  while (performance.now() - writeStarted < seconds * 1000) {
    const batch = Array.from({ length: 500 }, (_, k) => ({
      specversion: '1.0' as const,
      id: `w-${written + k}/request`,
      source: 'bench',
      type: 'request',
      subject: `cus_${(written + k) % 100}`,
      time: new Date().toISOString(),
      data: { route: '/v1/things', method: 'GET', status: 200, key: 'key_1' },
    }));
    await tollgate.metering.ingest.writeBatch(batch);
    written += batch.length;
  }
  const pgInsertPerS = written / ((performance.now() - writeStarted) / 1000);
  const writerCpu = process.cpuUsage(writerCpuBefore);
  const writerClientUsPerEvent = (writerCpu.user + writerCpu.system) / written;
  const pgServerUsPerEvent = ((cpuMs(await backendPids()) - pgCpuBefore) * 1000) / written;
  await tollgate.stop();
  await install.cleanup();

  return {
    redisRateLimitPerS,
    redisQuotaPerS,
    redisServerGcraPerS: redisServerGcra.perS,
    redisServerGcraUs: redisServerGcra.serverUsPerCall,
    redisServerQuotaPerS: redisServerQuota.perS,
    redisServerQuotaUs: redisServerQuota.serverUsPerCall,
    jetstreamAckedPerS,
    natsServerUsPerEvent,
    natsClientUsPerEvent,
    writerClientUsPerEvent,
    pgServerUsPerEvent,
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

// CPU time per component, read from /proc (clock ticks of 10 ms): the figure that says what
// each part costs per request, independent of what else shares the machine.
function cpuMs(pids: number[]): number {
  let total = 0;
  for (const pid of pids) {
    try {
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
      total += (Number(fields[11]) + Number(fields[12])) * 10;
    } catch {
      // exited
    }
  }
  return total;
}

function pgrep(args: string[]): number[] {
  try {
    return execFileSync('pgrep', args, { encoding: 'utf8' }).split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

function withDescendants(pid: number): number[] {
  const children = pgrep(['-P', String(pid)]);
  return [pid, ...children.flatMap(withDescendants)];
}

type Components = Record<string, () => number[]>;

function sampleCpu(components: Components): Record<string, number> {
  return Object.fromEntries(Object.entries(components).map(([name, pids]) => [name, cpuMs(pids())]));
}

const cpuPerRequest: Record<string, number> = {};

async function http(): Promise<Row[]> {
  const rows: Row[] = [];
  const upstream = await startNginx(
    `server { listen 127.0.0.1:PORT; location / { default_type application/json; return 200 '{"ok":true,"items":[1,2,3]}'; } }`,
    1,
  );
  const run = async (
    name: string,
    url: string,
    headers?: Record<string, string>,
    components?: Components,
  ) => {
    // Warm-up (connections, caches, JIT), then the measured run.
    await wrk(`${url}/v1/things`, { connections, durationS: 2, headers });
    const before = components ? sampleCpu(components) : {};
    const result = await wrk(`${url}/v1/things`, { connections, durationS, headers });
    log(
      `  ${name.padEnd(34)} ${result.rps.toFixed(0).padStart(8)} req/s  p50 ${result.p50.toFixed(2)} ms  p99 ${result.p99.toFixed(2)} ms${result.non2xx ? `  non-2xx ${result.non2xx}` : ''}`,
    );
    if (components) {
      const after = sampleCpu(components);
      const line = Object.keys(components)
        .map((c) => {
          const us = (((after[c] ?? 0) - (before[c] ?? 0)) * 1000) / Math.max(1, result.requests);
          cpuPerRequest[`${name} · ${c}`] = us;
          return `${c} ${us.toFixed(0)}`;
        })
        .join(', ');
      log(`    CPU µs per request: ${line}`);
    }
    // Latency added by the proxy on its own: one connection, nothing queued.
    const single = await wrk(`${url}/v1/things`, { connections: 1, durationS: 3, headers });
    log(`    1 connection: p50 ${single.p50.toFixed(3)} ms, p99 ${single.p99.toFixed(3)} ms`);
    rows.push({ name, result, note: `c1 p50 ${single.p50} p99 ${single.p99}` });
    return result;
  };
  try {
    await run('direct (upstream, no proxy)', upstream.url);

    const proxy = await startNginx(
      `upstream u { server ${upstream.url.slice(7)}; keepalive 128; }
       server { listen 127.0.0.1:PORT; location / { proxy_pass http://u; proxy_http_version 1.1; proxy_set_header Connection ""; } }`,
      2,
    );
    await run('nginx proxy, 2 workers', proxy.url, undefined, {
      'nginx (proxy + upstream)': () => pgrep(['-f', 'nginx: worker']),
    });
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
      const worker = processes[1] as TollgateProcess;
      await run(
        'tollgate scale-out, 2 gateways',
        gateway.gatewayUrl as string,
        { authorization: `Bearer ${key}` },
        {
          gateways: () => withDescendants(gateway.child.pid as number),
          worker: () => [worker.child.pid as number],
          redis: () => pgrep(['-f', `redis-server .*:${new URL(install.redisUrl).port || 6379}`]),
          nats: () => pgrep(['-f', `nats-server .*-p ${new URL(install.natsUrl).port || 4222}`]),
          postgres: () => pgrep(['-x', 'postgres']),
          upstream: () => pgrep(['-f', 'nginx: worker']),
        },
      );
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
        await run(
          'tollgate embedded, 1 process',
          all.gatewayUrl as string,
          { authorization: `Bearer ${key}` },
          { tollgate: () => [all.child.pid as number] },
        );
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
  const line = (label: string, perS: number, note = '') =>
    log(`  ${label.padEnd(44)} ${perS.toFixed(0).padStart(8)} /s${note ? `  (${note})` : ''}`);
  line('Redis GCRA check from Node (Lua, pipelined)', b.redisRateLimitPerS);
  line('Redis quota consume from Node', b.redisQuotaPerS);
  line(
    'Redis server: GCRA script',
    b.redisServerGcraPerS,
    `redis-benchmark; server CPU ${b.redisServerGcraUs.toFixed(1)} µs/call`,
  );
  line(
    'Redis server: quota script',
    b.redisServerQuotaPerS,
    `server CPU ${b.redisServerQuotaUs.toFixed(1)} µs/call`,
  );
  line(
    'JetStream publish, acknowledged',
    b.jetstreamAckedPerS,
    `nats-server CPU ${b.natsServerUsPerEvent.toFixed(1)} µs/event, client ${b.natsClientUsPerEvent.toFixed(1)} µs/event`,
  );
  line(
    'Metering batch write (500/tx, PostgreSQL)',
    b.pgInsertPerS,
    `writer CPU ${b.writerClientUsPerEvent.toFixed(1)} µs/event, PostgreSQL ${b.pgServerUsPerEvent.toFixed(1)} µs/event`,
  );
  log(
    `  ${'LISTEN/NOTIFY delivery'.padEnd(44)} p50 ${b.notifyP50Ms.toFixed(2)} ms, p99 ${b.notifyP99Ms.toFixed(2)} ms`,
  );
}
