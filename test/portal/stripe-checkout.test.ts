import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Stack, startStack } from '../browser/stack.ts';
import { PortalClient } from './client.ts';

/**
 * Portal checkout on the Stripe rail: the portal answers with the Stripe Checkout URL, the
 * return page waits, and the subscription (and the first key) appear once Stripe's signed
 * `checkout.session.completed` webhook arrives. Stripe is a small local fake (no network).
 */
const WEBHOOK_SECRET = 'whsec_portal_fake_stripe_secret';
let fake: Server;
let stack: Stack;
const sessions: URLSearchParams[] = [];
const intents: URLSearchParams[] = [];
let n = 0;

function answer(method: string, path: string, body: URLSearchParams): { status: number; body: unknown } {
  const id = (prefix: string) => `${prefix}_${++n}`;
  if (method === 'POST' && path === '/v1/customers')
    return { status: 200, body: { id: id('cus'), object: 'customer' } };
  if (method === 'POST' && path === '/v1/checkout/sessions') {
    sessions.push(body);
    const sid = id('cs');
    return {
      status: 200,
      body: {
        id: sid,
        object: 'checkout.session',
        url: `https://checkout.stripe.test/c/${sid}`,
        setup_intent: 'seti_ok',
        // Stripe's shortest session: 30 minutes (the create params' `expires_at`).
        expires_at: Math.floor(stack.clock.now().getTime() / 1000) + 30 * 60,
      },
    };
  }
  if (method === 'GET' && path.startsWith('/v1/setup_intents/')) {
    return { status: 200, body: { id: 'seti_ok', object: 'setup_intent', payment_method: 'pm_card_visa' } };
  }
  if (method === 'POST' && path === '/v1/payment_intents') {
    intents.push(body);
    return {
      status: 200,
      body: { id: id('pi'), object: 'payment_intent', status: 'processing', metadata: {} },
    };
  }
  return {
    status: 404,
    body: { error: { type: 'invalid_request_error', message: `no fake for ${method} ${path}` } },
  };
}

beforeAll(async () => {
  fake = createServer((req, res) => {
    let raw = '';
    req.on('data', (chunk) => {
      raw += chunk;
    });
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://fake');
      const out = answer(req.method ?? 'GET', url.pathname, new URLSearchParams(raw));
      res.writeHead(out.status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(out.body));
    });
  });
  await new Promise<void>((r) => fake.listen(0, '127.0.0.1', r));
  stack = await startStack({
    billing: {
      rail: {
        type: 'stripe',
        secretKey: 'sk_test_portal',
        webhookSecret: WEBHOOK_SECRET,
        apiBase: `http://127.0.0.1:${(fake.address() as AddressInfo).port}`,
      },
    },
  });
}, 180_000);

afterAll(async () => {
  await stack?.stop();
  await new Promise((r) => fake?.close(r));
});

/** Stripe's signed `checkout.session.completed` for session `id`, with the metadata Tollgate gave it. */
async function completeSession(id: string, metadata: Record<string, string>): Promise<Response> {
  const payload = JSON.stringify({
    id: `evt_${id}`,
    object: 'event',
    api_version: '2025-01-01',
    created: Math.floor(Date.now() / 1000),
    type: 'checkout.session.completed',
    data: {
      object: { id, object: 'checkout.session', customer: 'cus_1', setup_intent: 'seti_ok', metadata },
    },
  });
  const signature = new Stripe('sk_test_portal').webhooks.generateTestHeaderString({
    payload,
    secret: WEBHOOK_SECRET,
  });
  return stack.tollgate.consoleApp.request('/api/billing/webhooks/stripe', {
    method: 'POST',
    headers: { 'stripe-signature': signature, 'content-type': 'application/json' },
    body: payload,
  });
}

describe('checkout on the Stripe rail', () => {
  it('redirects to Stripe Checkout and activates the subscription when the webhook arrives', async () => {
    const client = new PortalClient(stack.tollgate.consoleApp);
    const user = await client.signup('stripe@s.test', 'Stripe Co');
    expect((await client.get('/api/portal/config')).json.rail).toBe('stripe');

    const started = await client.post('/api/portal/checkout', { planKey: 'pro' });
    expect(started.status).toBe(200);
    expect(started.json).toMatchObject({ status: 'redirect' });
    expect(started.json.url).toMatch(/^https:\/\/checkout\.stripe\.test\/c\/cs_/);
    expect(sessions[0]?.get('success_url')).toBe('http://portal.test/checkout/complete?plan=pro');
    expect(sessions[0]?.get('cancel_url')).toBe('http://portal.test/pricing');

    // Back from Stripe before its webhook: still pending, nothing created.
    expect((await client.post('/api/portal/checkout/complete')).json.status).toBe('pending');

    const payload = JSON.stringify({
      id: 'evt_1',
      object: 'event',
      api_version: '2025-01-01',
      created: Math.floor(Date.now() / 1000),
      type: 'checkout.session.completed',
      data: {
        object: {
          id: 'cs_1',
          object: 'checkout.session',
          customer: 'cus_1',
          setup_intent: 'seti_ok',
          metadata: { customerId: user.customerId, planKey: 'pro' },
        },
      },
    });
    const signature = new Stripe('sk_test_portal').webhooks.generateTestHeaderString({
      payload,
      secret: WEBHOOK_SECRET,
    });
    const hook = await stack.tollgate.consoleApp.request('/api/billing/webhooks/stripe', {
      method: 'POST',
      headers: { 'stripe-signature': signature, 'content-type': 'application/json' },
      body: payload,
    });
    expect(hook.status).toBe(200);

    const done = await client.post('/api/portal/checkout/complete');
    expect(done.json.status).toBe('active');
    expect(done.json.subscription.plan.key).toBe('pro');
    expect(done.json.firstKey.secret).toMatch(/^tg_/);
    // A second visit of the return page does not mint another key.
    expect((await client.post('/api/portal/checkout/complete')).json.firstKey).toBeNull();
    const invoices = (await client.get('/api/portal/invoices')).json.invoices as { total: string }[];
    expect(invoices.map((i) => i.total)).toEqual(['49.00']);
  });

  it('a coupon through Stripe Checkout: the first invoice and the charge Stripe is asked for are discounted', async () => {
    await stack.tollgate.billing.discounts.createCoupon({ code: 'STRIPE20', percentOff: '20' });
    const client = new PortalClient(stack.tollgate.consoleApp, '10.4.0.2');
    const user = await client.signup('coupon@s.test', 'Stripe Coupon Co');
    const started = await client.post('/api/portal/checkout', { planKey: 'pro', coupon: 'stripe20' });
    expect(started.json).toMatchObject({ status: 'redirect' });
    // The coupon travels in the session's metadata and comes back with Stripe's webhook.
    const session = sessions.at(-1) as URLSearchParams;
    expect(session.get('metadata[coupon]')).toBe('stripe20');
    const metadata = Object.fromEntries(
      [...session.entries()]
        .filter(([k]) => k.startsWith('metadata['))
        .map(([k, v]) => [k.slice('metadata['.length, -1), v]),
    );
    expect(metadata).toMatchObject({ customerId: user.customerId, planKey: 'pro' });
    const intentsBefore = intents.length;
    expect((await completeSession('cs_coupon', metadata)).status).toBe(200);

    const [invoice] = await stack.tollgate.billing.list({ customerId: user.customerId });
    expect(invoice?.total).toBe('39.20');
    expect(invoice?.lines.map((l) => [l.description, l.amount])).toEqual([
      ['Pro subscription', '49.00'],
      ['Coupon STRIPE20 (20% off)', '-9.80'],
    ]);
    const charged = intents.slice(intentsBefore);
    expect(charged.map((i) => [i.get('amount'), i.get('currency')])).toEqual([['3920', 'usd']]);
  });
  it('a coupon held while its Stripe Checkout is open: a later customer is told "used up", the one on the page gets it', async () => {
    await stack.tollgate.billing.discounts.createCoupon({
      code: 'LASTSEAT',
      percentOff: '20',
      maxRedemptions: 1,
    });
    const first = new PortalClient(stack.tollgate.consoleApp, '10.4.0.3');
    const firstUser = await first.signup('first-seat@s.test', 'First Seat Co');
    const started = await first.post('/api/portal/checkout', { planKey: 'pro', coupon: 'lastseat' });
    expect(started.json).toMatchObject({ status: 'redirect' });
    const sessionId = String(started.json.url).split('/').at(-1) as string;

    // While the first customer is on Stripe's page, the last redemption is theirs.
    const second = new PortalClient(stack.tollgate.consoleApp, '10.4.0.4');
    const secondUser = await second.signup('second-seat@s.test', 'Second Seat Co');
    const refused = await second.post('/api/portal/checkout', { planKey: 'pro', coupon: 'lastseat' });
    expect(refused.status).toBe(409);
    expect(refused.json).toMatchObject({ type: 'https://tollgate.dev/problems/coupon-exhausted' });
    expect(await stack.tollgate.subscriptions.currentForCustomer(secondUser.customerId)).toBeNull();

    // The operator archives it meanwhile: the quote still stands for the customer on the page.
    await stack.tollgate.billing.discounts.archiveCoupon('LASTSEAT');
    const metadata = { customerId: firstUser.customerId, planKey: 'pro', coupon: 'lastseat' };
    const intentsBefore = intents.length;
    expect((await completeSession(sessionId, metadata)).status).toBe(200);

    // The return page finishes: the subscription, with the discount on its first invoice.
    const done = await first.post('/api/portal/checkout/complete');
    expect(done.json.status).toBe('active');
    const [invoice] = await stack.tollgate.billing.list({ customerId: firstUser.customerId });
    expect(invoice?.lines.map((l) => [l.description, l.amount])).toEqual([
      ['Pro subscription', '49.00'],
      ['Coupon LASTSEAT (20% off)', '-9.80'],
    ]);
    expect(intents.slice(intentsBefore).map((i) => i.get('amount'))).toEqual(['3920']);
    expect((await stack.tollgate.billing.discounts.getCoupon('LASTSEAT')).timesRedeemed).toBe(1);
    // Stripe delivering the same event again changes nothing.
    expect((await completeSession(sessionId, metadata)).status).toBe(200);
    expect(await stack.tollgate.billing.discounts.listForCustomer(firstUser.customerId)).toHaveLength(1);
  });

  it('a hold ends when the Stripe Checkout Session expires: the coupon is free for the next customer', async () => {
    await stack.tollgate.billing.discounts.createCoupon({
      code: 'EXPIRES',
      percentOff: '20',
      maxRedemptions: 1,
    });
    const left = new PortalClient(stack.tollgate.consoleApp, '10.4.0.5');
    await left.signup('left-page@s.test', 'Left Page Co');
    expect((await left.post('/api/portal/checkout', { planKey: 'pro', coupon: 'expires' })).status).toBe(200);
    const next = new PortalClient(stack.tollgate.consoleApp, '10.4.0.6');
    await next.signup('next-one@s.test', 'Next One Co');
    expect((await next.post('/api/portal/checkout', { planKey: 'pro', coupon: 'expires' })).status).toBe(409);

    stack.clock.advance(31 * 60_000); // past the session's expires_at
    const quoted = await next.post('/api/portal/checkout', { planKey: 'pro', coupon: 'expires' });
    expect(quoted.status).toBe(200);
    expect(quoted.json).toMatchObject({ status: 'redirect' });
  });
});
