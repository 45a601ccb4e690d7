import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { afterAll, describe, expect, it } from 'vitest';
import { dedicatedServer, NATS_URL, servicesAvailable, uniqueName } from '../../test/scale-out/services.ts';
import type { UsageEvent } from './events.ts';
import { openJetStreamUsageLog, startJetStreamConsumer } from './jetstream.ts';

const available = await servicesAvailable('nats');

const event = (id: string, source = 'gateway'): UsageEvent => ({
  specversion: '1.0',
  id,
  source,
  type: 'request',
  subject: 'cus_1',
  time: '2026-11-01T00:00:00.000Z',
  data: { route: '/v1/x' },
});

const waitFor = async (check: () => boolean | Promise<boolean>, timeoutMs = 60_000) => {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
};

describe.skipIf(!available)('JetStream usage log', () => {
  const streams: string[] = [];
  const names = () => {
    const stream = uniqueName('TGTEST');
    streams.push(stream);
    return { stream, subject: `tgtest.${stream.toLowerCase()}` };
  };
  afterAll(async () => {
    const nc = await connect({ servers: NATS_URL });
    const jsm = await jetstreamManager(nc);
    for (const stream of streams) await jsm.streams.delete(stream).catch(() => {});
    await nc.close();
  });

  it('stores an event published twice with the same id once', async () => {
    const ids = names();
    const log = await openJetStreamUsageLog({ url: NATS_URL, ...ids });
    try {
      await log.append([event('req_1/request')]);
      await log.append([event('req_1/request')]);
      await log.append([event('req_1/request', 'other-source'), event('req_2/request')]);
      expect((await log.streamInfo()).messages).toBe(3);
    } finally {
      await log.close();
    }
  });

  it('refuses to count an event JetStream did not store (no stream for the subject)', async () => {
    const ids = names();
    const log = await openJetStreamUsageLog({ url: NATS_URL, ...ids, appendTimeoutMs: 800 });
    const nc = await connect({ servers: NATS_URL });
    try {
      await (await jetstreamManager(nc)).streams.delete(ids.stream);
      await expect(log.append([event('lost/request')])).rejects.toThrow(/not acknowledged/);
    } finally {
      await nc.close();
      await log.close();
    }
  });

  it('hands events to the batch writer and acks them after it committed; a failed write is redelivered', async () => {
    const ids = names();
    const log = await openJetStreamUsageLog({ url: NATS_URL, ...ids });
    const stored = new Map<string, UsageEvent>();
    let failNext = true;
    const batches: number[] = [];
    const consumer = await startJetStreamConsumer({
      url: NATS_URL,
      ...ids,
      batchSize: 50,
      write: async (events) => {
        if (failNext) {
          failNext = false;
          throw new Error('database unavailable');
        }
        batches.push(events.length);
        for (const e of events) stored.set(`${e.source}/${e.id}`, e);
      },
    });
    try {
      await log.append(Array.from({ length: 120 }, (_, i) => event(`req_${i}/request`)));
      await waitFor(() => stored.size === 120);
      await waitFor(async () => (await consumer.lag()) === 0);
      expect(Math.max(...batches)).toBeLessThanOrEqual(50);
    } finally {
      await consumer.stop();
      await log.close();
    }
  });

  it('a second consumer process resumes where the first stopped (durable)', async () => {
    const ids = names();
    const log = await openJetStreamUsageLog({ url: NATS_URL, ...ids });
    const seen: string[] = [];
    const write = async (events: UsageEvent[]) => {
      for (const e of events) seen.push(e.id);
    };
    const first = await startJetStreamConsumer({ url: NATS_URL, ...ids, write });
    await log.append([event('a'), event('b')]);
    await waitFor(() => seen.length === 2);
    await first.stop();
    await log.append([event('c')]);
    const second = await startJetStreamConsumer({ url: NATS_URL, ...ids, write });
    try {
      await waitFor(() => seen.length === 3);
      expect(seen.sort()).toEqual(['a', 'b', 'c']);
    } finally {
      await second.stop();
      await log.close();
    }
  });

  it('keeps every acknowledged event across a NATS crash and restart; appends wait for the restart', async () => {
    const nats = await dedicatedServer('nats');
    const ids = { stream: 'TOLLGATE_USAGE', subject: 'tollgate.usage' };
    const log = await openJetStreamUsageLog({ url: nats.url, ...ids, appendTimeoutMs: 20_000 });
    const stored = new Set<string>();
    let writes = 0;
    const consumer = await startJetStreamConsumer({
      url: nats.url,
      ...ids,
      write: async (events) => {
        writes += events.length;
        for (const e of events) stored.add(e.id);
      },
    });
    try {
      const acknowledged: string[] = [];
      const appends: Promise<void>[] = [];
      let i = 0;
      const producer = setInterval(() => {
        for (let k = 0; k < 10; k++) {
          const id = `req_${i++}/request`;
          appends.push(Promise.resolve(log.append([event(id)])).then(() => void acknowledged.push(id)));
        }
      }, 5);
      await new Promise((r) => setTimeout(r, 150));
      await nats.kill();
      await new Promise((r) => setTimeout(r, 400));
      await nats.start();
      await new Promise((r) => setTimeout(r, 150));
      clearInterval(producer);
      await Promise.all(appends);
      expect(acknowledged.length).toBe(i);
      await waitFor(() => stored.size === i, 20_000);
      expect((await log.streamInfo()).messages).toBe(i);
      expect(writes).toBeGreaterThanOrEqual(i);
    } finally {
      await consumer.stop();
      await log.close();
      await nats.close();
    }
  });
});
