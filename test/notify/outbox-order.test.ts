import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWebhookService, type WebhookService } from '../../src/notify/index.ts';
import { migrate, type Store } from '../../src/store/index.ts';
import { openPostgresStore } from '../../src/store/postgres.ts';
import { silentLogger } from '../../src/util/log.ts';
import { PG_URL } from '../support/postgres.ts';

/**
 * Issue 17: a failed `invoice.issued` arrived after the same invoice's `invoice.paid`. Two events
 * written in one transaction must reach each endpoint in write order, though their message ids
 * are random and the receiver answers after a random delay (so parallel first attempts would
 * overtake one another).
 */
const schema = `t_${randomBytes(6).toString('hex')}`;
const PAIRS = 20;
let store: Store;
let webhooks: WebhookService;
let server: Server;
let base: string;
const received: { path: string; type: string; invoice: string }[] = [];

beforeAll(async () => {
  const admin = await openPostgresStore(PG_URL, { max: 1 });
  await admin.exec(`create schema ${schema}`);
  await admin.close();
  const url = new URL(PG_URL);
  url.searchParams.set('options', `-c search_path=${schema}`);
  store = await openPostgresStore(url.toString());
  await migrate(store);
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString()) as {
        type: string;
        data: { invoice: { id: string } };
      };
      received.push({ path: req.url ?? '', type: body.type, invoice: body.data.invoice.id });
      setTimeout(() => res.writeHead(204).end(), Math.floor(Math.random() * 15));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const frozen = new Date('2026-03-01T00:00:00Z');
  webhooks = createWebhookService({
    store,
    clock: { now: () => frozen },
    log: silentLogger,
    policy: () => ({ allowHosts: ['127.0.0.1'], requireHttps: true }),
  });
}, 180_000);

afterAll(async () => {
  await webhooks?.stop();
  await store?.close();
  const admin = await openPostgresStore(PG_URL, { max: 1 });
  await admin.exec(`drop schema if exists ${schema} cascade`);
  await admin.close();
  await new Promise((r) => server?.close(r));
});

describe('webhook delivery order', () => {
  it('sends invoice.issued before invoice.paid of the same invoice, written in one transaction, to every endpoint', async () => {
    await webhooks.createEndpoint({ url: `${base}/a`, eventTypes: ['invoice.*'] });
    await webhooks.createEndpoint({ url: `${base}/b`, eventTypes: ['invoice.*'] });
    for (let i = 0; i < PAIRS; i++) {
      const invoice = { id: `inv_${i}`, total: '49.00' };
      await store.transaction(async (tx) => {
        await webhooks.enqueue(tx, 'invoice.issued', { invoice });
        await webhooks.enqueue(tx, 'invoice.paid', { invoice });
      });
    }
    for (let rounds = 0; rounds < 10_000; rounds++) if ((await webhooks.deliverDue()) === 0) break;
    for (const path of ['/a', '/b']) {
      const arrived = received.filter((r) => r.path === path).map((r) => `${r.type} ${r.invoice}`);
      // Every event once, in the order written: issued then paid, invoice after invoice.
      const written = Array.from({ length: PAIRS }, (_, i) => [
        `invoice.issued inv_${i}`,
        `invoice.paid inv_${i}`,
      ]).flat();
      expect(arrived, path).toEqual(written);
    }
    expect(await webhooks.deliveries({ status: 'pending' })).toEqual([]);
  }, 120_000);
});
