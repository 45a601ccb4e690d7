import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWebhookService, type WebhookService } from '../../src/notify/index.ts';
import { migrate, type Store } from '../../src/store/index.ts';
import { openPostgresStore } from '../../src/store/postgres.ts';
import { systemClock } from '../../src/util/clock.ts';
import { silentLogger } from '../../src/util/log.ts';
import { PG_URL } from '../support/postgres.ts';

/**
 * Two delivery workers, each with its own connection pool, on one PostgreSQL outbox: deliveries
 * are claimed with `FOR UPDATE SKIP LOCKED`, so every (endpoint, message) is sent exactly once
 * although both workers drain the same queue at the same time.
 */
const schema = `t_${randomBytes(6).toString('hex')}`;
let stores: Store[] = [];
let workers: WebhookService[] = [];
let server: Server;
let base: string;
const received: { path: string; id: string }[] = [];

beforeAll(async () => {
  const admin = await openPostgresStore(PG_URL, { max: 1 });
  await admin.exec(`create schema ${schema}`);
  await admin.close();
  const url = new URL(PG_URL);
  url.searchParams.set('options', `-c search_path=${schema}`);
  stores = [await openPostgresStore(url.toString()), await openPostgresStore(url.toString())];
  await migrate(stores[0] as Store);
  server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      received.push({ path: req.url ?? '', id: String(req.headers['webhook-id']) });
      // A little latency, so the two workers' claims overlap.
      setTimeout(() => res.writeHead(204).end(), 5);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  workers = stores.map((store) =>
    createWebhookService({
      store,
      clock: systemClock,
      log: silentLogger,
      policy: () => ({ allowHosts: ['127.0.0.1'], requireHttps: true }),
    }),
  );
}, 180_000);

afterAll(async () => {
  for (const w of workers) await w.stop();
  for (const s of stores) await s.close();
  const admin = await openPostgresStore(PG_URL, { max: 1 });
  await admin.exec(`drop schema if exists ${schema} cascade`);
  await admin.close();
  await new Promise((r) => server?.close(r));
});

describe('two workers on one PostgreSQL outbox', () => {
  it('send every delivery exactly once', async () => {
    const [one, two] = workers as [WebhookService, WebhookService];
    await one.createEndpoint({ url: `${base}/a` });
    await one.createEndpoint({ url: `${base}/b` });
    const EVENTS = 120;
    for (let i = 0; i < EVENTS; i++) await one.emit('invoice.paid', { invoice: { id: `inv_${i}` } });
    // Both drain at once, each claiming a few per endpoint at a time, until nothing is due.
    const drain = async (w: WebhookService) => {
      for (let rounds = 0; rounds < 10_000; rounds++) if ((await w.deliverDue()) === 0) return;
    };
    await Promise.all([drain(one), drain(two), drain(one), drain(two)]);
    expect(received).toHaveLength(EVENTS * 2);
    for (const path of ['/a', '/b']) {
      const ids = received.filter((r) => r.path === path).map((r) => r.id);
      expect(new Set(ids).size, path).toBe(EVENTS);
    }
    expect(await one.deliveries({ status: 'pending' })).toEqual([]);
  }, 120_000);
});
