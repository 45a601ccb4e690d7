import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { nginxConfig } from './nginx.ts';
import { benchProcesses, cpuTicks, firstLine, LOAD_CPU, SUT_CPU, waitForHttp } from './processes.ts';
import { runWrk } from './wrk.ts';

/**
 * CPU time per request of the system under test: the noise-resistant figure on a shared machine
 * (other processes slow a run down, but barely change the CPU one request costs).
 *
 *   node bench/lib/cpu.ts [full|nolog|bare|nginx …]    (default: nginx bare full)
 *
 * Each target runs pinned to core 0 with a static nginx upstream and wrk on core 1; the target's
 * utime+stime from /proc/<pid>/stat is read around a c=32 wrk run and divided by its requests.
 * Env: BENCH_SECONDS (per run, default 5), BENCH_ROUNDS (3, interleaved; the median is printed),
 * BENCH_PAIRED=1 loads all targets at the same time (c=16 each) instead of one after another.
 * A target `full@/path/to/other/checkout` runs that tree's gateway (A/B comparisons).
 */
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const PAIRED = process.env.BENCH_PAIRED === '1';
const PATH = '/v1/weather?city=Oslo';
const TICK_US = 1_000_000 / 100; // CLK_TCK is 100 on Linux
const { tmp, start } = benchProcesses('cpu');

function nginx(name: string, server: string, cpu: string | undefined): ChildProcess {
  const file = nginxConfig(tmp, name, server);
  return start('/usr/sbin/nginx', ['-c', file, '-p', join(tmp, name)], cpu);
}

const upstreamPort = 4810;
nginx(
  'upstream',
  `  server {
    listen 127.0.0.1:${upstreamPort};
    location / { default_type application/json; return 200 '{"city":"Oslo","temperatureC":7,"conditions":"rain"}'; }
  }`,
  LOAD_CPU,
);
await waitForHttp(`http://127.0.0.1:${upstreamPort}${PATH}`);

interface Target {
  name: string;
  pid: number;
  url: string;
  headers: Record<string, string>;
}
const targets: Target[] = [];
const args = process.argv.slice(2);
const TARGET = /^(full|nolog|bare)(@.+)?$|^nginx$/;
const unknown = args.find((a) => !TARGET.test(a));
if (unknown !== undefined) {
  process.stderr.write(
    `${unknown === '--help' || unknown === '-h' ? '' : `unknown target "${unknown}"\n`}` +
      'usage: node bench/lib/cpu.ts [full|nolog|bare|nginx|full@/other/checkout …]   (default: nginx bare full)\n' +
      'env: BENCH_SECONDS (5), BENCH_ROUNDS (3), BENCH_PAIRED=1\n',
  );
  process.exit(unknown === '--help' || unknown === '-h' ? 0 : 2);
}
const wanted = args.length > 0 ? args : ['nginx', 'bare', 'full'];
let port = 4811;
for (const name of wanted) {
  port++;
  if (name === 'nginx') {
    const child = nginx(
      'proxy',
      `  upstream demo { server 127.0.0.1:${upstreamPort}; keepalive 64; }
  server {
    listen 127.0.0.1:${port};
    location / { proxy_pass http://demo; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_set_header X-Forwarded-For $remote_addr; }
  }`,
      SUT_CPU,
    );
    const url = `http://127.0.0.1:${port}${PATH}`;
    await waitForHttp(url);
    targets.push({ name, pid: child.pid as number, url, headers: {} });
    continue;
  }
  // `mode@dir`: the gateway of another checkout (A/B runs against a baseline tree).
  const [mode, root] = name.split('@') as [string, string | undefined];
  const server =
    root === undefined ? 'bench/lib/gateway-server.ts' : join(root, 'bench/lib/gateway-server.ts');
  const child = start(process.execPath, [server], SUT_CPU, {
    BENCH_UPSTREAM: `http://127.0.0.1:${upstreamPort}`,
    BENCH_MODE: mode,
    BENCH_PORT: String(port),
    TOLLGATE_LOG_LEVEL: 'warn',
  });
  const line = await firstLine(child);
  const { url, key } = JSON.parse(line) as { url: string; key: string };
  const headers: Record<string, string> = mode === 'bare' ? {} : { authorization: `Bearer ${key}` };
  await waitForHttp(`${url}${PATH}`, headers);
  targets.push({ name, pid: child.pid as number, url: `${url}${PATH}`, headers });
}

for (const t of targets) {
  await runWrk({ url: t.url, connections: 32, seconds: 2, headers: t.headers, cpu: LOAD_CPU });
}
const samples = new Map<string, { us: number; rps: number }[]>();
async function measure(t: Target, connections: number): Promise<void> {
  const before = cpuTicks(t.pid);
  const r = await runWrk({ url: t.url, connections, seconds: SECONDS, headers: t.headers, cpu: LOAD_CPU });
  const ticks = cpuTicks(t.pid) - before;
  if (r.errors > 0) process.stdout.write(`! ${t.name}: ${r.errors} errors\n`);
  const list = samples.get(t.name) ?? [];
  list.push({ us: (ticks * TICK_US) / r.requests, rps: r.rps });
  samples.set(t.name, list);
}
for (let round = 0; round < ROUNDS; round++) {
  // Paired: all targets loaded at once, so a disturbance from elsewhere hits them alike (A/B runs).
  if (PAIRED) await Promise.all(targets.map((t) => measure(t, 16)));
  else for (const t of targets) await measure(t, 32);
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
for (const t of targets) {
  const list = samples.get(t.name) ?? [];
  const us = list.map((s) => s.us);
  process.stdout.write(
    `${t.name.padEnd(6)} CPU/request median ${median(us).toFixed(1)} µs, min ${Math.min(...us).toFixed(1)} µs  [${us.map((u) => u.toFixed(1)).join(', ')}]  req/s median ${Math.round(median(list.map((s) => s.rps)))}\n`,
  );
}
if (PAIRED && targets.length >= 2) {
  // Per round, each target's CPU per request relative to the first target's in the same round.
  const base = samples.get((targets[0] as Target).name) ?? [];
  for (const t of targets.slice(1)) {
    const ratios = (samples.get(t.name) ?? []).map((s, i) => s.us / (base[i] as { us: number }).us);
    process.stdout.write(
      `${t.name} / ${(targets[0] as Target).name}: median ${median(ratios).toFixed(3)}  [${ratios.map((r) => r.toFixed(2)).join(', ')}]\n`,
    );
  }
}
process.exit(0);
