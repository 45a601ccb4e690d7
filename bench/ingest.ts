/**
 * Metering ingest throughput (embedded store), two paths:
 *   1. HTTP: batches of CloudEvents POSTed to /api/v1/events (application/cloudevents-batch+json)
 *      by a load generator in its own thread, over `--concurrency` connections (each 204 comes
 *      after its batch is committed to the store);
 *   2. gateway path: events appended to the embedded UsageLog one request at a time (as the
 *      gateway does), moved into the store by the consumer; measured until the lag is zero.
 *
 *   node bench/ingest.ts [--events 200000] [--batch 1000] [--concurrency 4] [--memory | --database postgres://…]
 *                        [--subjects 500] [--keys 1000]
 *
 * The meters are the quickstart's (requests and tokens, grouped by route/model/type and API key).
 * Rollups are per meter × bucket × subject × group-by values, so their cost follows the
 * cardinality: many subjects × keys make almost every event its own minute bucket row.
 *
 * Prints events/s of wall time and, because benchmark machines are often shared, events per
 * CPU-second of this process (all its threads: the embedded database's and, for HTTP, the load
 * generator's too).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import { startTollgate } from '../src/app.ts';
import { resolveConfig } from '../src/config/index.ts';
import type { UsageEvent } from '../src/metering/events.ts';
import { createLogger } from '../src/util/log.ts';
import { benchEvent } from './lib/ingest-events.ts';

const { values: args } = parseArgs({
  options: {
    events: { type: 'string', default: '200000' },
    batch: { type: 'string', default: '1000' },
    concurrency: { type: 'string', default: '16' },
    memory: { type: 'boolean', default: false },
    database: { type: 'string' },
    keys: { type: 'string', default: '1000' },
    subjects: { type: 'string', default: '500' },
  },
});
const total = Number(args.events);
const batchSize = Number(args.batch);
const concurrency = Number(args.concurrency);
const keys = Number(args.keys);
const subjects = Number(args.subjects);
const TOKEN = 'bench-admin-token-0123456789abcdef';

const dataDir = mkdtempSync(join(tmpdir(), 'tollgate-bench-ingest-'));
const config = resolveConfig(
  {
    upstream: 'http://127.0.0.1:9',
    admin: { token: TOKEN },
    meters: [
      {
        slug: 'requests',
        eventType: 'request',
        aggregation: 'COUNT',
        groupBy: { route: '$.route', key: '$.key' },
      },
      {
        slug: 'tokens',
        eventType: 'tokens',
        aggregation: 'SUM',
        valueProperty: '$.tokens',
        groupBy: { model: '$.model', type: '$.type', key: '$.key' },
      },
    ],
  },
  'bench.config.ts',
  dataDir,
);
const tollgate = await startTollgate({
  config,
  database: args.database ?? (args.memory ? ':memory:' : undefined),
  dataDir,
  role: 'all',
  gatewayPort: 0,
  consolePort: 0,
  log: createLogger({ level: 'warn' }),
});

const event = (n: number, source: string): UsageEvent => benchEvent(n, source, subjects, keys);

const report = (label: string, count: number, ms: number, cpu: NodeJS.CpuUsage) => {
  const cpuMs = (cpu.user + cpu.system) / 1000;
  console.log(
    `${label.padEnd(34)} ${count} events in ${(ms / 1000).toFixed(2)} s: ` +
      `${Math.round((count / ms) * 1000).toLocaleString('en-US')} events/s ` +
      `(${Math.round((count / cpuMs) * 1000).toLocaleString('en-US')} per CPU-second)`,
  );
};

try {
  // 1. HTTP batches, sent by a load generator in its own thread (bench/lib/ingest-client.ts).
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const client = new Worker(new URL('./lib/ingest-client.ts', import.meta.url), {
    workerData: { url: tollgate.consoleUrl, token: TOKEN, total, batchSize, concurrency, subjects, keys },
  });
  await new Promise<void>((resolve, reject) => {
    client.once('message', () => resolve());
    client.once('error', reject);
  });
  report(`HTTP batches of ${batchSize}`, total, performance.now() - t0, process.cpuUsage(c0));
  await client.terminate();

  // 2. Gateway path: one append per request (1 event), consumer batches into the store.
  const log = tollgate.metering.usageLog;
  if (!log) throw new Error('no embedded usage log');
  const c1 = process.cpuUsage();
  const t1 = performance.now();
  let appendedMs = 0;
  for (let n = 0; n < total; n++) {
    log.append([event(n, 'bench-log')]);
    if (n % 2000 === 1999) await new Promise((r) => setImmediate(r)); // let the consumer run, as between requests
  }
  appendedMs = performance.now() - t1;
  await tollgate.metering.consumer?.drain(600_000);
  const ms = performance.now() - t1;
  console.log(
    `  appends returned after ${(appendedMs / 1000).toFixed(2)} s (${Math.round((total / appendedMs) * 1000).toLocaleString('en-US')}/s)`,
  );
  report('UsageLog → consumer → store', total, ms, process.cpuUsage(c1));

  const check = await tollgate.metering.reader.query({ meterSlug: 'requests' });
  // Half of each run's events are requests: HTTP run + log run = `total` requests.
  console.log(`  requests meter total: ${check.data[0]?.value} (expected ${total})`);
} finally {
  await tollgate.stop();
  rmSync(dataDir, { recursive: true, force: true });
}
