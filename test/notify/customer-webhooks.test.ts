import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'svix';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { USER_AGENT } from '../../src/notify/index.ts';
import { type Stack, startStack } from '../browser/stack.ts';
import { PortalClient } from '../portal/client.ts';

/**
 * Customers' own webhooks (a budget alert's URL) go through the operator's machinery: queued,
 * signed with the secret shown once at creation and never before it was shown, retried after a
 * failure, sent with Tollgate's User-Agent, and listed to the customer with every attempt (and to
 * no other customer).
 */
let stack: Stack;
let receiver: Server;
let receiverUrl: string;
const received: { at: number; headers: IncomingHttpHeaders; body: string }[] = [];
let failFirst = 1;
const CARD = { number: '4242 4242 4242 4242', expiry: '12/30', cvc: '123' };

beforeAll(async () => {
  receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => {
      body += c;
    });
    req.on('end', () => {
      received.push({ at: Date.now(), headers: req.headers, body });
      if (failFirst-- > 0) res.writeHead(500).end();
      else res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/budget`;
  stack = await startStack(); // notifications.allowHosts: ['127.0.0.1']
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  await new Promise((r) => receiver?.close(r));
});

describe("a customer's alert webhook", () => {
  it('is held until the secret was shown, retried, verified, and listed with its attempts', async () => {
    const owner = new PortalClient(stack.tollgate.consoleApp, '10.9.0.1');
    await owner.signup('carol@c.test', 'Carol Co', 'Quartz-Lantern-Harbour-7319');
    expect((await owner.post('/api/portal/checkout', { planKey: 'pro', card: CARD })).status).toBe(201);
    // Spend is 49.00 already: the alert fires while it is being created.
    const created = await owner.post('/api/portal/alerts', {
      kind: 'amount',
      threshold: '1.00',
      email: false,
      webhookUrl: receiverUrl,
    });
    const shownAt = Date.now();
    expect(created.status).toBe(201);
    const secret = created.json.webhookSecret as string;
    expect(secret).toMatch(/^whsec_/);

    // First attempt answered 500, the retry (after about 5 s) 204.
    await expect.poll(() => received.length, { timeout: 90_000, interval: 250 }).toBe(2);
    expect(received[0]!.at).toBeGreaterThanOrEqual(shownAt - 1000);
    for (const r of received) {
      expect(r.headers['user-agent']).toBe(USER_AGENT);
      expect(() =>
        new Webhook(secret).verify(r.body, {
          'webhook-id': String(r.headers['webhook-id']),
          'webhook-timestamp': String(r.headers['webhook-timestamp']),
          'webhook-signature': String(r.headers['webhook-signature']),
        }),
      ).not.toThrow();
      expect(JSON.parse(r.body)).toMatchObject({ type: 'budget.alert', data: { alertId: created.json.id } });
    }
    expect(received[1]!.headers['webhook-id']).toBe(received[0]!.headers['webhook-id']);

    const log = async () => (await owner.get('/api/portal/webhook-deliveries')).json.deliveries;
    await expect.poll(async () => (await log())[0]?.status, { timeout: 30_000 }).toBe('succeeded');
    const [delivery] = await log();
    expect(delivery).toMatchObject({ type: 'budget.alert', attempts: 2 });
    expect(delivery.attemptLog.map((a: { statusCode: number }) => a.statusCode)).toEqual([500, 204]);

    // Another organisation sees none of it.
    const other = new PortalClient(stack.tollgate.consoleApp, '10.9.0.2');
    await other.signup('dave@d.test', 'Dave Co', 'Quartz-Lantern-Harbour-7319');
    expect((await other.get('/api/portal/webhook-deliveries')).json.deliveries).toEqual([]);

    // Deleting the alert deletes its webhook: nothing more is sent to it.
    expect((await owner.delete(`/api/portal/alerts/${created.json.id}`)).status).toBe(204);
    expect((await stack.tollgate.webhooks.listEndpoints()).filter((e) => e.url === receiverUrl)).toEqual([]);
  }, 180_000);
});
