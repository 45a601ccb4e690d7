/**
 * Meter query latency over a large store, with rollups.
 *
 *   node bench/query.ts [--events 10000000] [--days 30] [--subjects 200] [--runs 40]
 *                       [--data-dir DIR (kept, reused)] [--database postgres://…]
 *
 * Loads the events through the normal ingest path (dedupe, meter values, minute/hour rollups;
 * progress on stderr; reuses an existing --data-dir that already holds them), then times meter
 * queries over the whole range: total, by day, by subject, filtered by a group-by value, and an
 * unaligned range whose edges come from the minute rollup and the raw values. Prints p50/p95.
 */
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { resolveConfig } from '../src/config/index.ts';
import type { UsageEvent } from '../src/metering/events.ts';
import { openMeterRegistry } from '../src/metering/meters.ts';
import type { MeterQueryParams } from '../src/metering/query.ts';
import { createMeterReader } from '../src/metering/reader.ts';
import { createIngestService } from '../src/metering/service.ts';
import { migrate, openStore } from '../src/store/index.ts';
import { systemClock } from '../src/util/clock.ts';
import { createLogger } from '../src/util/log.ts';

const { values: args } = parseArgs({
  options: {
    events: { type: 'string', default: '10000000' },
    days: { type: 'string', default: '30' },
    subjects: { type: 'string', default: '200' },
    runs: { type: 'string', default: '40' },
    'data-dir': { type: 'string' },
    database: { type: 'string' },
    batch: { type: 'string', default: '10000' },
  },
});
const total = Number(args.events);
const days = Number(args.days);
const subjects = Number(args.subjects);
const runs = Number(args.runs);
const batchSize = Number(args.batch);
const dataDir = args['data-dir'] ?? mkdtempSync(join(tmpdir(), 'tollgate-bench-query-'));
mkdirSync(dataDir, { recursive: true });
const log = createLogger({ level: 'warn' });

const config = resolveConfig(
  {
    upstream: 'http://127.0.0.1:9',
    meters: [
      {
        slug: 'tokens',
        eventType: 'tokens',
        aggregation: 'SUM',
        valueProperty: '$.tokens',
        groupBy: { model: '$.model', type: '$.type' },
      },
    ],
  },
  'bench.config.ts',
  dataDir,
);
const store = await openStore(args.database, dataDir);
await migrate(store);
const meters = await openMeterRegistry(store, config.meters, log);
const ingest = createIngestService({ store, meters, clock: systemClock, log });
const reader = createMeterReader({ store, meters, clock: systemClock });

const start = Date.UTC(2026, 0, 1);
const span = days * 86_400_000;
const step = span / total;
const models = ['tg-small', 'tg-large', 'tg-medium'];
const types = ['input', 'output'];
const event = (n: number): UsageEvent => ({
  specversion: '1.0',
  id: `evt_${n}`,
  source: 'bench-query',
  type: 'tokens',
  subject: `cus_${n % subjects}`,
  time: new Date(start + Math.floor(n * step)).toISOString(),
  data: { tokens: (n % 997) + 1, model: models[n % 3], type: types[(n >> 1) % 2] },
});

const [{ n: already = 0 } = { n: 0 }] = await store.query<{ n: number }>(
  `select count(*)::int as n from usage_event_keys where source = 'bench-query'`,
);
if (already < total) {
  console.error(`loading ${total - already} events into ${args.database ? 'PostgreSQL' : dataDir} …`);
  const t0 = performance.now();
  let last = t0;
  for (let from = already; from < total; from += batchSize) {
    const batch = Array.from({ length: Math.min(batchSize, total - from) }, (_, i) => event(from + i));
    await ingest.write(batch);
    const now = performance.now();
    if (now - last > 2000 || from + batchSize >= total) {
      last = now;
      const done = Math.min(total, from + batchSize);
      const rate = ((done - already) / (now - t0)) * 1000;
      process.stderr.write(
        `\r  ${done.toLocaleString('en-US')} / ${total.toLocaleString('en-US')} (${((done / total) * 100).toFixed(1)}%) ` +
          `${Math.round(rate).toLocaleString('en-US')} events/s, ~${Math.round((total - done) / rate)} s left   `,
      );
    }
  }
  process.stderr.write('\n');
} else {
  console.error(`reusing ${already} events in ${dataDir}`);
}

const from = new Date(start);
const to = new Date(start + span);
const cases: [string, Omit<MeterQueryParams, 'meterSlug'>][] = [
  ['whole range, one total', { from, to }],
  ['whole range, by day', { from, to, windowSize: 'DAY' }],
  ['whole range, by day (Europe/Berlin)', { from, to, windowSize: 'DAY', windowTimeZone: 'Europe/Berlin' }],
  ['whole range, by subject', { from, to, groupBy: ['subject'] }],
  [
    'whole range, model=tg-large by type',
    { from, to, filterGroupBy: { model: 'tg-large' }, groupBy: ['type'] },
  ],
  ['one subject, by hour', { from, to, subject: ['cus_7'], windowSize: 'HOUR' }],
  [
    'unaligned range (raw + minute edges)',
    { from: new Date(start + 3_723_456), to: new Date(start + span - 3_654_321) },
  ],
];
const pct = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0;
console.log(
  `\nmeter query latency over ${total.toLocaleString('en-US')} events (${days} days, ${subjects} subjects), ${runs} runs each:`,
);
for (const [label, params] of cases) {
  const times: number[] = [];
  let rows = 0;
  let value = 0;
  for (let i = 0; i < runs + 3; i++) {
    const t0 = performance.now();
    const result = await reader.query({ meterSlug: 'tokens', ...params });
    const ms = performance.now() - t0;
    if (i >= 3) times.push(ms); // warm-up runs are not counted
    rows = result.data.length;
    value = result.data.reduce((s, r) => s + r.value, 0);
  }
  times.sort((a, b) => a - b);
  console.log(
    `  ${label.padEnd(38)} p50 ${pct(times, 0.5).toFixed(1).padStart(6)} ms   p95 ${pct(times, 0.95).toFixed(1).padStart(6)} ms   ` +
      `(${rows} rows, total ${value.toLocaleString('en-US')})`,
  );
}
await store.close();
