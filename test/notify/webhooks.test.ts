import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveConfig } from '../../src/config/index.ts';
import { createMailer, createWebhookService, type WebhookService } from '../../src/notify/index.ts';
import { migrate, openPGliteStore, type Store } from '../../src/store/index.ts';
import { ManualClock } from '../../src/util/clock.ts';
import { silentLogger } from '../../src/util/log.ts';

let store: Store;
let server: Server;
let url: string;
let webhooks: WebhookService;
const clock = new ManualClock(new Date());
const received: { headers: IncomingHttpHeaders; body: string }[] = [];
let failNext = 0;

beforeAll(async () => {
  store = await openPGliteStore();
  await migrate(store);
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => {
      body += c;
    });
    req.on('end', () => {
      received.push({ headers: req.headers, body });
      if (failNext > 0) {
        failNext--;
        res.writeHead(503).end();
      } else res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`;
  // The receiver is on 127.0.0.1, which only the operator's allow-list lets webhooks reach.
  webhooks = createWebhookService({
    store,
    clock,
    log: silentLogger,
    policy: () => ({ allowHosts: ['127.0.0.1'], requireHttps: true }),
  });
});

afterAll(async () => {
  await new Promise((r) => server.close(r));
  await store.close();
});

describe('outgoing webhooks', () => {
  it('signs deliveries so a Standard Webhooks library verifies them', async () => {
    const endpoint = await webhooks.createEndpoint({ url, eventTypes: ['invoice.*'] });
    expect(endpoint.secret).toMatch(/^whsec_/);
    await webhooks.emit('invoice.paid', { invoice: { id: 'inv_1', total: '49.00' } });
    await webhooks.emit('subscription.created', { id: 'sub_1' }); // not subscribed
    expect(await webhooks.deliverDue()).toBe(1);
    const [delivery] = received;
    expect(delivery?.headers['webhook-id']).toMatch(/^msg_/);
    const payload = new Webhook(endpoint.secret).verify(delivery!.body, {
      'webhook-id': String(delivery!.headers['webhook-id']),
      'webhook-timestamp': String(delivery!.headers['webhook-timestamp']),
      'webhook-signature': String(delivery!.headers['webhook-signature']),
    }) as { type: string; data: { invoice: { total: string } } };
    expect(payload.type).toBe('invoice.paid');
    expect(payload.data.invoice.total).toBe('49.00');
    // a tampered body does not verify
    expect(() =>
      new Webhook(endpoint.secret).verify(delivery!.body.replace('49.00', '0.00'), {
        'webhook-id': String(delivery!.headers['webhook-id']),
        'webhook-timestamp': String(delivery!.headers['webhook-timestamp']),
        'webhook-signature': String(delivery!.headers['webhook-signature']),
      }),
    ).toThrow();
    await webhooks.deleteEndpoint(endpoint.id);
  });

  it('retries a failing endpoint with backoff and logs every attempt, same message id', async () => {
    received.length = 0;
    const endpoint = await webhooks.createEndpoint({ url });
    failNext = 2;
    await webhooks.emit('invoice.payment_failed', { invoice: { id: 'inv_2' } });
    await webhooks.deliverDue();
    let [log] = await webhooks.deliveries({ endpointId: endpoint.id });
    expect(log).toMatchObject({ status: 'pending', attempts: 1, lastStatusCode: 503 });
    expect(await webhooks.deliverDue()).toBe(0); // not due yet
    clock.advance(5_000);
    await webhooks.deliverDue();
    [log] = await webhooks.deliveries({ endpointId: endpoint.id });
    expect(log).toMatchObject({ status: 'pending', attempts: 2 });
    clock.advance(300_000);
    await webhooks.deliverDue();
    [log] = await webhooks.deliveries({ endpointId: endpoint.id });
    expect(log).toMatchObject({ status: 'succeeded', attempts: 3, lastStatusCode: 204 });
    expect(new Set(received.map((r) => r.headers['webhook-id'])).size).toBe(1);
  });

  it('refuses a URL that is not one', async () => {
    await expect(webhooks.createEndpoint({ url: 'not a url' })).rejects.toMatchObject({ status: 400 });
  });
});

describe('mail', () => {
  it('keeps mail in the dev mailbox without SMTP', async () => {
    const config = resolveConfig({ upstream: 'http://127.0.0.1:1' }, 'x.ts', process.cwd());
    const mailer = createMailer({ config, store, clock, log: silentLogger });
    expect(mailer.devMailbox).toBe(true);
    await mailer.send({ to: 'dev@example.com', subject: 'Reset your password', text: 'Follow the link' });
    const [mail] = await mailer.mailbox({ to: 'dev@example.com' });
    expect(mail).toMatchObject({ subject: 'Reset your password', text: 'Follow the link' });
  });

  it('sends through nodemailer when a transport is configured', async () => {
    const { createTransport } = await import('nodemailer');
    const transport = createTransport({ jsonTransport: true });
    const config = resolveConfig(
      { upstream: 'http://127.0.0.1:1', portal: { smtp: 'smtp://localhost:2525' } },
      'x.ts',
      process.cwd(),
    );
    const mailer = createMailer({ config, store, clock, log: silentLogger, transport });
    expect(mailer.devMailbox).toBe(false);
    await expect(mailer.send({ to: 'a@example.com', subject: 'Hi', text: 'x' })).resolves.toBeUndefined();
  });
});

describe('admin API', () => {
  it('creates endpoints (secret shown), lists deliveries, refuses bad input with problem+json', async () => {
    const { createConsoleApp } = await import('../../src/http/hono.ts');
    const { mountNotifyRoutes } = await import('../../src/notify/index.ts');
    const config = resolveConfig({ upstream: 'http://127.0.0.1:1' }, 'x.ts', process.cwd());
    const app = createConsoleApp(silentLogger);
    const token = 'notify-admin-token-0123456789';
    mountNotifyRoutes(app, {
      webhooks,
      mailer: createMailer({ config, store, clock, log: silentLogger }),
      adminToken: token,
    });
    const auth = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    const created = await app.request('/api/admin/webhooks/endpoints', {
      method: 'POST',
      headers: auth,
      body: JSON.stringify({ url, eventTypes: ['invoice.*', 'subscription.suspended'] }),
    });
    expect(created.status).toBe(201);
    expect(((await created.json()) as { secret: string }).secret).toMatch(/^whsec_/);
    const bad = await app.request('/api/admin/webhooks/endpoints', {
      method: 'POST',
      headers: auth,
      body: '{"url":"nope"}',
    });
    expect(bad.status).toBe(400);
    expect(bad.headers.get('content-type')).toBe('application/problem+json');
    const unauthorized = await app.request('/api/admin/webhooks/endpoints');
    expect(unauthorized.status).toBe(401);
    const deliveries = await app.request('/api/admin/webhooks/deliveries?status=failed', { headers: auth });
    expect(deliveries.status).toBe(200);
  });
});
