import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { resolveConfig } from '../../src/config/index.ts';
import { startEmbeddedConsumer } from '../../src/metering/consumer.ts';
import { startMetering } from '../../src/metering/index.ts';
import { openEmbeddedUsageLog } from '../../src/metering/log.ts';
import { migrate, openPGliteStore } from '../../src/store/index.ts';
import { systemClock } from '../../src/util/clock.ts';
import { silentLogger } from '../../src/util/log.ts';

const dirs: string[] = [];
const tempDir = () => {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-log-'));
  dirs.push(dir);
  return dir;
};
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

const config = (dataDir: string) =>
  resolveConfig(
    {
      upstream: 'http://127.0.0.1:9',
      meters: [{ slug: 'requests', eventType: 'request', aggregation: 'COUNT' }],
    },
    'test.config.ts',
    dataDir,
  );

const event = (n: number) => ({
  specversion: '1.0' as const,
  id: `req_${n}/request`,
  source: 'gateway',
  type: 'request',
  subject: 'cus_1',
  time: '2026-01-01T00:00:00.000Z',
  data: {},
});

describe('embedded usage log', () => {
  it('after a SIGKILL mid-stream, the restarted consumer has every appended event exactly once', async () => {
    const dataDir = tempDir();
    const child = spawn(process.execPath, [join(import.meta.dirname, 'fixtures/crash-child.ts'), dataDir], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let reported = 0;
    let buffered = '';
    const killed = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    await new Promise<void>((resolve, reject) => {
      child.once('exit', (code) => reject(new Error(`child exited early (${code})`)));
      child.stdout.on('data', (chunk: Buffer) => {
        buffered += chunk.toString();
        const lines = buffered.split('\n');
        buffered = lines.pop() ?? '';
        for (const line of lines) if (/^\d+$/.test(line)) reported = Number(line);
        if (reported >= 5_000) resolve();
      });
    });
    child.kill('SIGKILL');
    await killed;

    const store = await openPGliteStore(join(dataDir, 'db'));
    await migrate(store);
    const before = await store.query<{ n: number }>('select count(*)::int as n from usage_events');
    const metering = await startMetering({
      store,
      config: config(dataDir),
      clock: systemClock,
      log: silentLogger,
      dataDir,
      openLog: true,
      runConsumer: true,
    });
    try {
      const appended = metering.usageLog?.nextSeq ?? 0;
      await metering.consumer?.drain(30_000);
      const [row] = await store.query<{ n: number; distinct: number; max: number }>(
        `select count(*)::int as n, count(distinct id)::int as distinct,
                max(split_part(substr(id, 5), '/', 1)::int)::int as max from usage_events`,
      );
      console.log(
        `crash test: appends returned ${reported}, in log ${appended}, in store before restart ${before[0]?.n}, after replay ${row?.n}`,
      );
      expect(appended).toBeGreaterThanOrEqual(reported);
      expect(row?.n).toBe(appended);
      expect(row?.distinct).toBe(appended);
      expect(row?.max).toBe(appended);
      const result = await metering.reader.query({ meterSlug: 'requests' });
      expect(result.data[0]?.value).toBe(appended);
    } finally {
      await metering.stop();
      await store.close();
    }
  }, 120_000);

  it('continues across segment files, deletes the consumed ones, and replays from the checkpoint', async () => {
    const dataDir = tempDir();
    const dir = join(dataDir, 'usage-log');
    const store = await openPGliteStore();
    await migrate(store);
    const writer = openEmbeddedUsageLog({ dir, segmentBytes: 2_000 });
    for (let n = 1; n <= 100; n++) writer.append([event(n)]);
    expect(readdirSync(dir).length).toBeGreaterThan(3);
    const first = await startMetering({
      store,
      config: config(dataDir),
      clock: systemClock,
      log: silentLogger,
      dataDir,
      openLog: false,
      runConsumer: true,
    });
    const waitFor = async (n: number) => {
      for (let i = 0; i < 500; i++) {
        const r = await first.reader.query({ meterSlug: 'requests' });
        if (r.data[0]?.value === n) return;
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      throw new Error(`never reached ${n}`);
    };
    await waitFor(100);
    await first.stop();
    expect(readdirSync(dir).length).toBe(1); // only the segment still being written
    for (let n = 101; n <= 150; n++) writer.append([event(n)]);
    // A replayed stretch (a crash before the checkpoint) is deduplicated.
    for (let n = 140; n <= 150; n++) writer.append([event(n)]);
    const second = await startMetering({
      store,
      config: config(dataDir),
      clock: systemClock,
      log: silentLogger,
      dataDir,
      openLog: false,
      runConsumer: true,
    });
    for (let i = 0; i < 500; i++) {
      const r = await second.reader.query({ meterSlug: 'requests' });
      if (r.data[0]?.value === 150 && (second.consumer?.consumed ?? 0) >= 61) break;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect((await second.reader.query({ meterSlug: 'requests' })).data[0]?.value).toBe(150);
    await second.stop();
    await writer.close();
    await store.close();
  });

  it('cuts off a torn last line when reopened', async () => {
    const dir = join(tempDir(), 'usage-log');
    const writer = openEmbeddedUsageLog({ dir });
    writer.append([event(1), event(2)]);
    await writer.close();
    const { appendFileSync } = await import('node:fs');
    appendFileSync(join(dir, readdirSync(dir)[0] as string), '{"specversion":"1.0","id":"torn');
    const reopened = openEmbeddedUsageLog({ dir });
    expect(reopened.nextSeq).toBe(2);
    reopened.append([event(3)]);
    expect(reopened.nextSeq).toBe(3);
    await reopened.close();
  });
});

describe('embedded usage log consumer and an event the store refuses', () => {
  it('tries the failing batch one event at a time, leaves the refused event out and moves on', async () => {
    const dataDir = tempDir();
    const store = await openPGliteStore();
    await migrate(store);
    const cfg = config(dataDir);
    const metering = await startMetering({
      store,
      config: cfg,
      clock: systemClock,
      log: silentLogger,
      dataDir,
      openLog: true,
      runConsumer: false,
    });
    const log = metering.usageLog;
    if (!log) throw new Error('no usage log');
    log.append([event(1), event(2), { ...event(3), id: 'poison/request' }, event(4)]);
    // A writer in front of the real one that refuses one event, as a store refusing its content would.
    const refusing = {
      write: async (
        events: Parameters<typeof metering.ingest.write>[0],
        options?: { checkpoint?: never },
      ) => {
        if (events.some((e) => e.id === 'poison/request')) throw new Error('the store refuses this event');
        return metering.ingest.write(events, options);
      },
    };
    const consumer = await startEmbeddedConsumer({
      dir: join(dataDir, 'usage-log'),
      store,
      ingest: refusing,
      log: silentLogger,
      onAppend: (listener) => log.onAppend(listener),
      appended: () => log.nextSeq,
    });
    // Generous ceilings: drain returns as soon as the consumer has caught up.
    await consumer.drain(60_000);
    log.append([event(5)]); // and the events after it still flow
    await consumer.drain(60_000);
    const result = await metering.reader.query({ meterSlug: 'requests' });
    expect(result.data.map((r) => r.value)).toEqual([4]);
    await consumer.stop();
    await metering.stop();
    await store.close();
  }, 150_000);
});
