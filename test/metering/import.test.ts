import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImportError, importUsageFile } from '../../src/metering/import.ts';
import { openMeterRegistry } from '../../src/metering/meters.ts';
import { createMeterReader } from '../../src/metering/reader.ts';
import { createIngestService } from '../../src/metering/service.ts';
import { migrate, openPGliteStore, type Store } from '../../src/store/index.ts';
import { ManualClock } from '../../src/util/clock.ts';
import { silentLogger } from '../../src/util/log.ts';
import { testMeters } from './helpers.ts';

let store: Store;
let dir: string;
const clock = new ManualClock('2026-03-01T00:00:00Z');
beforeAll(async () => {
  store = await openPGliteStore();
  await migrate(store);
  dir = mkdtempSync(join(tmpdir(), 'tollgate-import-'));
});
afterAll(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

const line = (n: number, subject: string, tokens: unknown = n) =>
  JSON.stringify({
    specversion: '1.0',
    id: `imp_${n}`,
    source: 'import',
    type: 'tokens',
    subject,
    time: '2026-01-10T00:00:00Z',
    data: { tokens, model: 'small', type: 'input' },
  });

async function setup() {
  const meters = await openMeterRegistry(store, testMeters, silentLogger);
  return {
    ingest: createIngestService({ store, meters, clock, log: silentLogger }),
    reader: createMeterReader({ store, meters, clock }),
  };
}

describe('usage import', () => {
  it('imports NDJSON in batches, stops at a bad line without storing its batch, and resumes after fixing it', async () => {
    const { ingest, reader } = await setup();
    const file = join(dir, 'events.ndjson');
    const lines = Array.from({ length: 25 }, (_, i) => line(i + 1, 'imp_a'));
    lines[21] = line(22, 'imp_a', 'twelve'); // line 22: not a number
    lines[23] = '{not json'; // line 24
    writeFileSync(file, `${lines.join('\n')}\n`);
    const error = await importUsageFile({ file, dataDir: dir, ingest, clock, batchSize: 10 }).catch((e) => e);
    expect(error).toBeInstanceOf(ImportError);
    expect((error as ImportError).problems.map((p) => p.line)).toEqual([24]);
    const sum = async () =>
      (await reader.query({ meterSlug: 'tokens', subject: ['imp_a'] })).data[0]?.value ?? 0;
    expect(await sum()).toBe(210); // lines 1–20: two whole batches

    lines[23] = line(24, 'imp_a');
    writeFileSync(file, `${lines.join('\n')}\n`);
    const second = await importUsageFile({ file, dataDir: dir, ingest, clock, batchSize: 10 }).catch(
      (e) => e,
    );
    expect((second as ImportError).problems).toEqual([
      { line: 22, message: expect.stringContaining('data.tokens') },
    ]);
    expect(await sum()).toBe(210);

    lines[21] = line(22, 'imp_a');
    writeFileSync(file, `${lines.join('\n')}\n`);
    const done = await importUsageFile({ file, dataDir: dir, ingest, clock, batchSize: 10 });
    expect(done.resumedFrom).toBeGreaterThan(0);
    expect(await sum()).toBe(325); // 1 + … + 25
    // Importing again from the start counts nothing twice.
    const again = await importUsageFile({ file, dataDir: dir, ingest, clock, restart: true });
    expect(again.duplicates).toBe(25);
    expect(await sum()).toBe(325);
  });

  it('imports CSV with id,source,type,subject,time,data columns', async () => {
    const { ingest, reader } = await setup();
    const file = join(dir, 'events.csv');
    writeFileSync(
      file,
      [
        'id,source,type,subject,time,data',
        'c1,csv,tokens,imp_csv,2026-01-11T00:00:00Z,"{""tokens"": 5, ""model"": ""large"", ""type"": ""output""}"',
        'c2,csv,tokens,imp_csv,2026-01-11T00:01:00Z,"{""tokens"": 7, ""model"": ""large"", ""type"": ""output""}"',
        '',
      ].join('\r\n'),
    );
    const result = await importUsageFile({ file, dataDir: dir, ingest, clock });
    expect(result.imported).toBe(2);
    const r = await reader.query({ meterSlug: 'tokens', subject: ['imp_csv'], groupBy: ['model'] });
    expect(r.data.map((row) => [row.groupBy.model, row.value])).toEqual([['large', 12]]);
  });

  it('reads CSV fields with quoted newlines, commas and quotes, resumes after them and names bad lines', async () => {
    const { ingest, reader } = await setup();
    const file = join(dir, 'quoted.csv');
    const data = (tokens: number, model: string) =>
      `"${JSON.stringify({ tokens, model, type: 'input' }, null, 2).replaceAll('"', '""')}"`;
    writeFileSync(
      file,
      [
        'id,source,type,subject,time,data',
        `q1,csv,tokens,imp_quoted,2026-01-12T00:00:00Z,${data(5, 'a,b')}`,
        `q2,csv,tokens,imp_quoted,2026-01-12T00:01:00Z,${data(7, 'say "hi"\nthere')}`,
        '',
      ].join('\n'),
    );
    const result = await importUsageFile({ file, dataDir: dir, ingest, clock, batchSize: 1 });
    expect(result.imported).toBe(2);
    // The pretty-printed data spans 5 lines per record: the second record ends on line 11.
    expect(result.lines).toBe(11);
    const r = await reader.query({ meterSlug: 'tokens', subject: ['imp_quoted'], groupBy: ['model'] });
    expect(r.data.map((row) => [row.groupBy.model, row.value])).toEqual([
      ['a,b', 5],
      ['say "hi"\nthere', 7],
    ]);
    // Appended records are read from the saved offset, past the quoted newlines.
    writeFileSync(file, `q3,csv,tokens,imp_quoted,2026-01-12T00:02:00Z,${data(11, 'a,b')}\n`, { flag: 'a' });
    const resumed = await importUsageFile({ file, dataDir: dir, ingest, clock });
    expect(resumed.imported).toBe(3);
    expect(resumed.duplicates).toBe(0);
    const bad = join(dir, 'bad.csv');
    writeFileSync(bad, `id,source,type,subject,time,data\nb1,csv,tokens,x,,"{}"\nb2,csv,tokens,x,,"{"oops\n`);
    await expect(importUsageFile({ file: bad, dataDir: dir, ingest, clock })).rejects.toThrow(/line 3: /);
  });
});

describe('tollgate usage CLI', () => {
  it('imports a file and prints a meter query as a table and as JSON', async () => {
    const work = mkdtempSync(join(dir, 'cli-'));
    writeFileSync(
      join(work, 'tollgate.config.ts'),
      `export default ${JSON.stringify({
        upstream: 'http://127.0.0.1:9',
        meters: [
          {
            slug: 'tokens',
            eventType: 'tokens',
            aggregation: 'SUM',
            valueProperty: '$.tokens',
            groupBy: { model: '$.model' },
          },
        ],
      })};\n`,
    );
    writeFileSync(join(work, 'usage.ndjson'), `${[line(1, 'cli_a'), line(2, 'cli_b')].join('\n')}\n`);
    const run = (...args: string[]) =>
      promisify(execFile)(
        process.execPath,
        ['src/cli/main.ts', '-c', join(work, 'tollgate.config.ts'), ...args],
        {
          env: { ...process.env, NO_COLOR: '1', TOLLGATE_LOG_LEVEL: 'silent' },
        },
      );
    const imported = await run('usage', 'import', join(work, 'usage.ndjson'));
    expect(imported.stdout).toContain('imported 2 events');
    const table = await run('usage', 'query', '--meter', 'tokens', '--group-by', 'subject');
    expect(table.stdout).toMatch(/cli_a.*1/);
    expect(table.stdout).toMatch(/cli_b.*2/);
    const json = await run('usage', 'query', '--meter', 'tokens', '--json', '--window', 'DAY');
    expect(JSON.parse(json.stdout)).toMatchObject({ windowSize: 'DAY', data: [{ value: 3 }] });
  }, 120_000);
});
