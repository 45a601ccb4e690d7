import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook as StandardWebhook } from 'standardwebhooks';
import { Webhook as SvixWebhook } from 'svix';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createScheduler } from '../../src/cluster/scheduler.ts';
import { resolveConfig } from '../../src/config/index.ts';
import {
  createMailer,
  createWebhookService,
  newWebhookSecret,
  RETRY_SCHEDULE_MS,
  USER_AGENT,
  type WebhookService,
} from '../../src/notify/index.ts';
import { migrate, openPGliteStore, type Store } from '../../src/store/index.ts';
import { ManualClock } from '../../src/util/clock.ts';
import { silentLogger } from '../../src/util/log.ts';

/**
 * Outgoing webhooks against real receivers on 127.0.0.1 (which the operator's allow-list lets
 * them reach), time moved by hand: signatures checked by independent verifiers (`standardwebhooks`
 * and Svix's own `svix` package), retries with jitter, Retry-After, 3xx and 410, a run of failures
 * disabling an endpoint, secret validation and rotation.
 */
let store: Store;
let server: Server;
let base: string;
let webhooks: WebhookService;
const clock = new ManualClock(new Date('2026-12-01T00:00:00Z'));
const received: { path: string; headers: IncomingHttpHeaders; body: string }[] = [];
/** path → how the receiver answers (default 204). */
const answers = new Map<string, (res: ServerResponse) => void>();

beforeAll(async () => {
  store = await openPGliteStore();
  await migrate(store);
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => {
      body += c;
    });
    req.on('end', () => {
      received.push({ path: req.url ?? '', headers: req.headers, body });
      const answer = answers.get(req.url ?? '');
      if (answer) answer(res);
      else res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  webhooks = createWebhookService({
    store,
    clock,
    log: silentLogger,
    policy: () => ({ allowHosts: ['127.0.0.1'], requireHttps: true }),
    disableAfter: { ms: 3_600_000, attempts: 3 },
  });
});

afterAll(async () => {
  await webhooks.stop();
  await new Promise((r) => server.close(r));
  await store.close();
});

beforeEach(async () => {
  received.length = 0;
  answers.clear();
  for (const e of await webhooks.listEndpoints()) await webhooks.deleteEndpoint(e.id);
});

const headersOf = (h: IncomingHttpHeaders) => ({
  'webhook-id': String(h['webhook-id']),
  'webhook-timestamp': String(h['webhook-timestamp']),
  'webhook-signature': String(h['webhook-signature']),
});

describe('delivery', () => {
  it('signs deliveries so Standard Webhooks and Svix verifiers accept them, with our User-Agent', async () => {
    clock.set(new Date()); // verifiers accept timestamps within 5 minutes of their own clock
    const endpoint = await webhooks.createEndpoint({ url: `${base}/a`, eventTypes: ['invoice.*'] });
    expect(endpoint.secret).toMatch(/^whsec_/);
    await webhooks.emit('invoice.paid', { invoice: { id: 'inv_1', total: '49.00' } });
    await webhooks.emit('subscription.created', { subscription: { id: 'sub_1' } }); // not subscribed
    expect(await webhooks.deliverDue()).toBe(1);
    const [delivery] = received;
    expect(delivery?.headers['user-agent']).toBe(USER_AGENT);
    expect(USER_AGENT).toMatch(/^Tollgate-Webhooks\/\d+\.\d+\.\d+/);
    const payload = new StandardWebhook(endpoint.secret).verify(
      delivery!.body,
      headersOf(delivery!.headers),
    ) as {
      type: string;
      data: { invoice: { total: string } };
    };
    expect(payload).toMatchObject({ type: 'invoice.paid', data: { invoice: { total: '49.00' } } });
    // svix's verify throws on a bad signature and returns nothing on a good one.
    expect(() =>
      new SvixWebhook(endpoint.secret).verify(delivery!.body, headersOf(delivery!.headers)),
    ).not.toThrow();
    expect(() =>
      new StandardWebhook(endpoint.secret).verify(
        delivery!.body.replace('49.00', '0.00'),
        headersOf(delivery!.headers),
      ),
    ).toThrow();
    // The endpoint list never shows the secret again.
    expect(JSON.stringify(await webhooks.listEndpoints())).not.toContain(endpoint.secret);
  });

  it('retries with backoff plus jitter, logs every attempt, and keeps the message id and body', async () => {
    const endpoint = await webhooks.createEndpoint({ url: `${base}/flaky` });
    let failures = 2;
    answers.set('/flaky', (res) => {
      if (failures-- > 0) res.writeHead(500).end();
      else res.writeHead(200).end();
    });
    await webhooks.emit('invoice.payment_failed', { invoice: { id: 'inv_2' } });
    await webhooks.deliverDue();
    let [log] = await webhooks.deliveries({ endpointId: endpoint.id });
    expect(log).toMatchObject({ status: 'pending', attempts: 1, lastStatusCode: 500 });
    const wait = new Date(log!.nextAttemptAt!).getTime() - clock.now().getTime();
    expect(wait).toBeGreaterThanOrEqual(RETRY_SCHEDULE_MS[0]!);
    expect(wait).toBeLessThanOrEqual(RETRY_SCHEDULE_MS[0]! * 1.2);
    expect(await webhooks.deliverDue()).toBe(0); // not due yet
    clock.advance(RETRY_SCHEDULE_MS[0]! * 1.2);
    await webhooks.deliverDue();
    clock.advance(RETRY_SCHEDULE_MS[1]! * 1.2);
    await webhooks.deliverDue();
    [log] = await webhooks.deliveries({ endpointId: endpoint.id });
    expect(log).toMatchObject({ status: 'succeeded', attempts: 3, lastStatusCode: 200, nextAttemptAt: null });
    expect((await webhooks.attempts(log!.id)).map((a) => a.statusCode)).toEqual([500, 500, 200]);
    expect(new Set(received.map((r) => r.headers['webhook-id'])).size).toBe(1);
    expect(new Set(received.map((r) => r.body)).size).toBe(1);
  });

  it('treats a redirect as a failure and never follows it', async () => {
    const endpoint = await webhooks.createEndpoint({ url: `${base}/moved` });
    answers.set('/moved', (res) => res.writeHead(307, { location: `${base}/elsewhere` }).end());
    await webhooks.emit('invoice.paid', { invoice: { id: 'inv_3' } });
    await webhooks.deliverDue();
    const [log] = await webhooks.deliveries({ endpointId: endpoint.id });
    expect(log).toMatchObject({ status: 'pending', lastStatusCode: 307, lastError: 'HTTP 307' });
    expect(received.map((r) => r.path)).toEqual(['/moved']);
  });

  it('honours Retry-After on 503 and 429 instead of the schedule', async () => {
    const endpoint = await webhooks.createEndpoint({ url: `${base}/busy` });
    answers.set('/busy', (res) => res.writeHead(503, { 'retry-after': '120' }).end());
    await webhooks.emit('invoice.paid', { invoice: { id: 'inv_4' } });
    await webhooks.deliverDue();
    const [log] = await webhooks.deliveries({ endpointId: endpoint.id });
    expect(new Date(log!.nextAttemptAt!).getTime() - clock.now().getTime()).toBe(120_000);
    answers.set('/busy', (res) =>
      res.writeHead(429, { 'retry-after': new Date(clock.now().getTime() + 600_000).toUTCString() }).end(),
    );
    clock.advance(120_000);
    await webhooks.deliverDue();
    const [again] = await webhooks.deliveries({ endpointId: endpoint.id });
    expect(again).toMatchObject({ attempts: 2, lastStatusCode: 429 });
    // An HTTP date has whole seconds.
    const wait = new Date(again!.nextAttemptAt!).getTime() - clock.now().getTime();
    expect(wait).toBeGreaterThan(599_000);
    expect(wait).toBeLessThanOrEqual(600_000);
  });

  it('disables an endpoint that answers 410 Gone, and says so', async () => {
    const watcher = await webhooks.createEndpoint({ url: `${base}/ops`, eventTypes: ['endpoint.disabled'] });
    const gone = await webhooks.createEndpoint({ url: `${base}/gone`, eventTypes: ['invoice.*'] });
    answers.set('/gone', (res) => res.writeHead(410).end());
    await webhooks.emit('invoice.paid', { invoice: { id: 'inv_5' } });
    await webhooks.deliverDue();
    const endpoint = await webhooks.getEndpoint(gone.id);
    expect(endpoint).toMatchObject({ enabled: false, disabledReason: 'The endpoint answered 410 Gone.' });
    const [log] = await webhooks.deliveries({ endpointId: gone.id });
    expect(log).toMatchObject({ status: 'failed', lastStatusCode: 410 });
    // The operator's own endpoint hears about it.
    await webhooks.deliverDue();
    const notice = received.find((r) => r.path === '/ops');
    expect(JSON.parse(notice!.body)).toMatchObject({
      type: 'endpoint.disabled',
      data: { endpoint: { id: gone.id, disabledReason: 'The endpoint answered 410 Gone.' } },
    });
    expect(watcher.enabled).toBe(true);
    // No new deliveries are queued for it; enabling it again clears the reason.
    await webhooks.emit('invoice.paid', { invoice: { id: 'inv_6' } });
    expect(await webhooks.deliveries({ endpointId: gone.id })).toHaveLength(1);
    expect(await webhooks.setEnabled(gone.id, true)).toMatchObject({ enabled: true, disabledReason: null });
  });

  it('disables an endpoint after a run of failures (here 3 attempts over an hour)', async () => {
    const dead = await webhooks.createEndpoint({ url: `${base}/dead` });
    answers.set('/dead', (res) => res.writeHead(500).end());
    await webhooks.emit('invoice.paid', { invoice: { id: 'inv_7' } });
    for (let i = 0; i < 4 && (await webhooks.getEndpoint(dead.id)).enabled; i++) {
      await webhooks.deliverDue();
      clock.advance(RETRY_SCHEDULE_MS[i]! * 1.2 + 1_800_000);
    }
    const endpoint = await webhooks.getEndpoint(dead.id);
    expect(endpoint.enabled).toBe(false);
    expect(endpoint.disabledReason).toMatch(/^Every attempt failed for 0 day\(s\) \(3 attempts in a row\)/);
  });

  it('lets one slow endpoint delay nobody else', async () => {
    const live = createWebhookService({
      store,
      clock: { now: () => new Date() },
      log: silentLogger,
      policy: () => ({ allowHosts: ['127.0.0.1'], requireHttps: true }),
    });
    let release: () => void = () => {};
    const held = new Promise<void>((r) => {
      release = r;
    });
    answers.set('/slow', (res) => void held.then(() => res.writeHead(204).end()));
    await live.createEndpoint({ url: `${base}/slow`, eventTypes: ['invoice.*'] });
    await live.createEndpoint({ url: `${base}/fast`, eventTypes: ['subscription.*'] });
    // Delivered by the scheduler's job, as in a worker (every 100 ms, and right after each event).
    const scheduler = createScheduler({ store, log: silentLogger });
    live.start(scheduler, 100);
    scheduler.start();
    try {
      for (let i = 0; i < 6; i++) await live.emit('invoice.paid', { invoice: { id: `inv_slow_${i}` } });
      // First attempts go in write order, one at a time: the other five wait behind the held one.
      await expect.poll(() => received.filter((r) => r.path === '/slow').length, { timeout: 60_000 }).toBe(1);
      await live.emit('subscription.created', { subscription: { id: 'sub_fast' } });
      // Arrives while the slow endpoint holds its first message and the rest queue behind it.
      await expect.poll(() => received.some((r) => r.path === '/fast'), { timeout: 60_000 }).toBe(true);
      expect(received.filter((r) => r.path === '/slow').length).toBe(1);
      release();
      // Once answered, the rest follow in the order they were written.
      await expect.poll(() => received.filter((r) => r.path === '/slow').length, { timeout: 60_000 }).toBe(6);
      const slow = received.filter((r) => r.path === '/slow').map((r) => JSON.parse(r.body).data.invoice.id);
      expect(slow).toEqual(Array.from({ length: 6 }, (_, i) => `inv_slow_${i}`));
    } finally {
      release();
      await scheduler.stop();
      await live.stop();
    }
  }, 180_000);
});

describe('secrets and event types', () => {
  it('refuses secrets that are not whsec_ + base64 of 24–64 bytes, naming the field', async () => {
    for (const secret of [
      'whsec_not*base64!',
      'not_whsec',
      `whsec_${Buffer.alloc(16).toString('base64')}`,
      `whsec_${Buffer.alloc(65).toString('base64')}`,
    ]) {
      await expect(webhooks.createEndpoint({ url: `${base}/s`, secret })).rejects.toMatchObject({
        status: 400,
        extensions: { errors: [expect.objectContaining({ path: 'secret' })] },
      });
    }
    const ok = `whsec_${Buffer.alloc(32, 7).toString('base64')}`;
    expect((await webhooks.createEndpoint({ url: `${base}/s`, secret: ok })).secret).toBe(ok);
  });

  it('refuses event types that do not exist (invoice.payed), and URLs that are not ones', async () => {
    await expect(
      webhooks.createEndpoint({ url: `${base}/t`, eventTypes: ['invoice.payed'] }),
    ).rejects.toMatchObject({
      status: 400,
      extensions: { errors: [expect.objectContaining({ path: 'eventTypes.0' })] },
    });
    await expect(
      webhooks.createEndpoint({ url: `${base}/t`, eventTypes: ['nothing.*'] }),
    ).rejects.toMatchObject({
      status: 400,
    });
    await expect(webhooks.createEndpoint({ url: 'not a url' })).rejects.toMatchObject({ status: 400 });
    const fine = await webhooks.createEndpoint({
      url: `${base}/t`,
      eventTypes: ['invoice.paid', 'subscription.*'],
    });
    await expect(webhooks.updateEndpoint(fine.id, { eventTypes: ['invoice.payed'] })).rejects.toMatchObject({
      status: 400,
    });
  });

  it('rotates a secret: during the overlap both signatures are sent, and Svix verifies either', async () => {
    clock.set(new Date()); // verifiers accept timestamps within 5 minutes of their own clock
    const endpoint = await webhooks.createEndpoint({ url: `${base}/rot` });
    const rotated = await webhooks.rotateSecret(endpoint.id, { overlapMs: 60_000 });
    expect(rotated.secret).not.toBe(endpoint.secret);
    await webhooks.emit('invoice.paid', { invoice: { id: 'inv_rot' } });
    await webhooks.deliverDue();
    const during = received.at(-1)!;
    expect(String(during.headers['webhook-signature']).split(' ')).toHaveLength(2);
    // A receiver still on the old secret and one already on the new one both accept it.
    // (svix's verify throws on a bad signature and returns nothing on a good one)
    expect(() =>
      new SvixWebhook(endpoint.secret).verify(during.body, headersOf(during.headers)),
    ).not.toThrow();
    expect(() =>
      new SvixWebhook(rotated.secret).verify(during.body, headersOf(during.headers)),
    ).not.toThrow();
    expect(() =>
      new SvixWebhook(newWebhookSecret()).verify(during.body, headersOf(during.headers)),
    ).toThrow();
    // After the overlap only the new secret signs.
    clock.advance(60_001);
    await webhooks.emit('invoice.paid', { invoice: { id: 'inv_rot2' } });
    await webhooks.deliverDue();
    const after = received.at(-1)!;
    expect(String(after.headers['webhook-signature']).split(' ')).toHaveLength(1);
    expect(() => new SvixWebhook(endpoint.secret).verify(after.body, headersOf(after.headers))).toThrow();
    expect(() => new SvixWebhook(rotated.secret).verify(after.body, headersOf(after.headers))).not.toThrow();
    await expect(webhooks.rotateSecret(endpoint.id, { secret: 'whsec_nope' })).rejects.toMatchObject({
      status: 400,
    });
  });
});

describe('replay, test events, paging', () => {
  it('replays one delivery or a range, sends test events, and pages the log', async () => {
    const endpoint = await webhooks.createEndpoint({ url: `${base}/r`, eventTypes: ['invoice.paid'] });
    for (let i = 0; i < 5; i++) await webhooks.emit('invoice.paid', { invoice: { id: `inv_r${i}` } });
    await webhooks.deliverDue();
    expect(received).toHaveLength(5);
    const page1 = await webhooks.deliveries({ endpointId: endpoint.id, limit: 3 });
    const page2 = await webhooks.deliveries({ endpointId: endpoint.id, limit: 3, before: page1.at(-1)!.id });
    expect(page1).toHaveLength(3);
    expect(page2).toHaveLength(2);
    expect(new Set([...page1, ...page2].map((d) => d.id)).size).toBe(5);

    const replayed = await webhooks.replay(page1[0]!.id);
    expect(replayed.status).toBe('pending');
    await webhooks.deliverDue();
    expect(received).toHaveLength(6);
    expect(received[5]!.headers['webhook-id']).toBe(page1[0]!.messageId);

    const count = await webhooks.replayRange({
      endpointId: endpoint.id,
      from: new Date(clock.now().getTime() - 1000),
      to: new Date(clock.now().getTime() + 1000),
    });
    expect(count).toBe(5);
    await webhooks.deliverDue();
    expect(received).toHaveLength(11);

    await webhooks.sendTest(endpoint.id); // delivered although the endpoint takes only invoice.paid
    await webhooks.deliverDue();
    expect(JSON.parse(received.at(-1)!.body)).toMatchObject({
      type: 'webhook.test',
      data: { endpointId: endpoint.id },
    });
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
