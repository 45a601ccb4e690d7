import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Hono } from 'hono';
import Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mountBillingRoutes, subscriptionPort } from '../../src/billing/index.ts';
import { createStripeRail } from '../../src/billing/rails/stripe.ts';
import { createConsoleApp } from '../../src/http/hono.ts';
import { silentLogger } from '../../src/util/log.ts';
import { type Harness, openHarness } from './harness.ts';

/**
 * The real `stripe` SDK against a small fake Stripe HTTP server (no network): customers,
 * Checkout Sessions (setup), SetupIntents, off-session PaymentIntents with idempotency keys,
 * and webhooks signed like Stripe's, verified by `stripe.webhooks.constructEvent`.
 */
const WEBHOOK_SECRET = 'whsec_test_fake_stripe_secret';
let server: Server;
let h: Harness;
let app: Hono;
const requests: {
  method: string;
  path: string;
  body: URLSearchParams;
  idempotencyKey: string | undefined;
}[] = [];
const byIdempotencyKey = new Map<string, { status: number; body: unknown }>();
let n = 0;

function fakeStripe(method: string, path: string, body: URLSearchParams): { status: number; body: unknown } {
  const id = (prefix: string) => `${prefix}_${++n}`;
  if (method === 'POST' && path === '/v1/customers') {
    return { status: 200, body: { id: id('cus'), object: 'customer', name: body.get('name') } };
  }
  if (method === 'POST' && path === '/v1/checkout/sessions') {
    const sid = id('cs');
    const declined = body.get('metadata[planKey]') === 'growth';
    return {
      status: 200,
      body: {
        id: sid,
        object: 'checkout.session',
        mode: body.get('mode'),
        customer: body.get('customer'),
        url: `https://checkout.stripe.test/c/${sid}`,
        setup_intent: declined ? 'seti_declined' : 'seti_ok',
        metadata: Object.fromEntries(
          [...body.entries()].filter(([k]) => k.startsWith('metadata[')).map(([k, v]) => [k.slice(9, -1), v]),
        ),
      },
    };
  }
  if (method === 'GET' && path.startsWith('/v1/setup_intents/')) {
    const sid = path.split('/').pop();
    return {
      status: 200,
      body: {
        id: sid,
        object: 'setup_intent',
        payment_method: sid === 'seti_declined' ? 'pm_card_chargeDeclined' : 'pm_card_visa',
      },
    };
  }
  if (method === 'POST' && path === '/v1/payment_intents') {
    const pi = id('pi');
    if (body.get('payment_method') === 'pm_card_chargeDeclined') {
      return {
        status: 402,
        body: {
          error: {
            type: 'card_error',
            code: 'card_declined',
            decline_code: 'generic_decline',
            message: 'Your card was declined.',
            payment_intent: { id: pi, object: 'payment_intent', status: 'requires_payment_method' },
          },
        },
      };
    }
    return {
      status: 200,
      body: {
        id: pi,
        object: 'payment_intent',
        amount: Number(body.get('amount')),
        currency: body.get('currency'),
        status: 'processing',
        metadata: {
          idempotencyKey: body.get('metadata[idempotencyKey]'),
          reference: body.get('metadata[reference]'),
        },
      },
    };
  }
  if (method === 'POST' && path === '/v1/refunds') {
    return { status: 200, body: { id: id('re'), object: 'refund', status: 'succeeded' } };
  }
  return {
    status: 404,
    body: { error: { type: 'invalid_request_error', message: `no fake for ${method} ${path}` } },
  };
}

beforeAll(async () => {
  server = createServer((req, res) => {
    let raw = '';
    req.on('data', (c) => {
      raw += c;
    });
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://x');
      const body = new URLSearchParams(raw);
      const idempotencyKey = req.headers['idempotency-key'] as string | undefined;
      requests.push({ method: req.method ?? 'GET', path: url.pathname, body, idempotencyKey });
      const previous = idempotencyKey ? byIdempotencyKey.get(`${url.pathname}:${idempotencyKey}`) : undefined;
      const answer = previous ?? fakeStripe(req.method ?? 'GET', url.pathname, body);
      if (idempotencyKey && !previous) byIdempotencyKey.set(`${url.pathname}:${idempotencyKey}`, answer);
      res.writeHead(answer.status, { 'content-type': 'application/json', 'request-id': `req_${n}` });
      res.end(JSON.stringify(answer.body));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  h = await openHarness({
    start: '2026-01-01T00:00:00Z',
    rail: () =>
      createStripeRail({
        secretKey: 'sk_test_fake',
        webhookSecret: WEBHOOK_SECRET,
        apiBase: `http://127.0.0.1:${port}`,
      }),
  });
  app = createConsoleApp(silentLogger);
  mountBillingRoutes(app, {
    billing: h.billing.service,
    subscriptions: subscriptionPort({
      store: h.store,
      config: h.config,
      subscriptions: h.subscriptions,
      customers: h.customers,
      catalog: h.catalog,
    }),
    adminToken: 'admin-token-admin-token',
    config: h.config,
  });
});

afterAll(async () => {
  await new Promise((r) => server.close(r));
  await h.store.close();
});

const signer = new Stripe('sk_test_fake');
async function sendWebhook(event: Record<string, unknown>, secret = WEBHOOK_SECRET) {
  const payload = JSON.stringify({
    object: 'event',
    api_version: '2025-01-01',
    created: Math.floor(Date.now() / 1000),
    ...event,
  });
  const header = signer.webhooks.generateTestHeaderString({ payload, secret });
  return app.request('/api/billing/webhooks/stripe', {
    method: 'POST',
    headers: { 'stripe-signature': header, 'content-type': 'application/json' },
    body: payload,
  });
}

describe('stripe rail against a fake Stripe', () => {
  it('checkout returns the hosted URL; the signed webhook subscribes and charges the first invoice', async () => {
    const customer = await h.customers.create({ name: 'Stripe Org', email: 's@example.com' });
    const started = await h.billing.service.startCheckout(customer.id, 'pro', {
      returnUrl: 'http://portal.test/done',
    });
    expect(started.url).toMatch(/^https:\/\/checkout\.stripe\.test\/c\/cs_/);
    expect(await h.subscriptions.currentForCustomer(customer.id)).toBeNull();
    const session = requests.find((r) => r.path === '/v1/checkout/sessions');
    expect(session?.body.get('mode')).toBe('setup');

    const completed = await sendWebhook({
      id: 'evt_checkout_1',
      type: 'checkout.session.completed',
      data: {
        object: {
          id: started.sessionId,
          object: 'checkout.session',
          customer: session?.body.get('customer'),
          setup_intent: 'seti_ok',
          metadata: { customerId: customer.id, planKey: 'pro' },
        },
      },
    });
    expect(completed.status).toBe(200);
    const sub = await h.subscriptions.currentForCustomer(customer.id);
    expect(sub?.planKey).toBe('pro');
    const [invoice] = await h.billing.service.list({ subscriptionId: sub!.id });
    expect(invoice).toMatchObject({ status: 'issued', total: '49.00' });
    const charge = requests.find((r) => r.path === '/v1/payment_intents');
    expect(charge?.body.get('amount')).toBe('4900');
    expect(charge?.body.get('payment_method')).toBe('pm_card_visa');
    expect(charge?.idempotencyKey).toBe(`inv:${invoice!.id}:attempt:1`);

    // PaymentIntent confirmation arrives by webhook.
    const piId = (await h.billing.service.payments(invoice!.id))[0]?.rail_ref;
    const paid = await sendWebhook({
      id: 'evt_pi_1',
      type: 'payment_intent.succeeded',
      data: { object: { id: piId, object: 'payment_intent', status: 'succeeded', metadata: {} } },
    });
    expect(paid.status).toBe(200);
    expect((await h.billing.service.mustGet(invoice!.id)).status).toBe('paid');
    // the same event again changes nothing
    expect(
      (
        await sendWebhook({
          id: 'evt_pi_1',
          type: 'payment_intent.succeeded',
          data: { object: { id: piId, object: 'payment_intent' } },
        })
      ).status,
    ).toBe(200);
  });

  it('a credit note refunds part of the paid invoice with refunds.create against its PaymentIntent', async () => {
    const [invoice] = await h.billing.service.list({ status: 'paid' });
    const piId = (await h.billing.service.payments(invoice!.id))[0]?.rail_ref;
    const response = await app.request(`/api/admin/invoices/${invoice!.id}/credit-notes`, {
      method: 'POST',
      headers: { authorization: 'Bearer admin-token-admin-token', 'content-type': 'application/json' },
      body: JSON.stringify({ reason: 'usage_correction', lines: [{ invoiceLine: 1, amount: '12.34' }] }),
    });
    expect(response.status).toBe(201);
    const note = (await response.json()) as {
      id: string;
      number: string;
      refundAmount: string;
      refund: { status: string };
    };
    expect(note).toMatchObject({ refundAmount: '12.34', refund: { status: 'succeeded' } });
    const refund = requests.find((r) => r.path === '/v1/refunds');
    expect(refund?.body.get('payment_intent')).toBe(piId);
    expect(refund?.body.get('amount')).toBe('1234');
    expect(refund?.idempotencyKey).toBe(`refund:${note.id}`);
    // More than is left on the invoice line: refused before Stripe is called.
    const before = requests.filter((r) => r.path === '/v1/refunds').length;
    const over = await app.request(`/api/admin/invoices/${invoice!.id}/credit-notes`, {
      method: 'POST',
      headers: { authorization: 'Bearer admin-token-admin-token', 'content-type': 'application/json' },
      body: JSON.stringify({ reason: 'other', lines: [{ invoiceLine: 1, amount: '36.67' }] }),
    });
    expect(over.status).toBe(400);
    expect(over.headers.get('content-type')).toBe('application/problem+json');
    expect(requests.filter((r) => r.path === '/v1/refunds').length).toBe(before);
  });

  it('refuses a webhook with a bad signature with problem+json, changing nothing', async () => {
    const response = await sendWebhook(
      { id: 'evt_forged', type: 'payment_intent.succeeded', data: { object: { id: 'pi_x' } } },
      'whsec_wrong',
    );
    expect(response.status).toBe(400);
    expect(response.headers.get('content-type')).toBe('application/problem+json');
    expect(((await response.json()) as { detail: string }).detail).toContain('signature');
  });

  it('a card declined on the first charge undoes the checkout: no subscription, nothing to pay', async () => {
    const customer = await h.customers.create({ name: 'Declined Org', email: 'd@example.com' });
    const started = await h.billing.service.startCheckout(customer.id, 'growth', {
      returnUrl: 'http://portal.test/done',
    });
    await sendWebhook({
      id: 'evt_checkout_2',
      type: 'checkout.session.completed',
      data: {
        object: {
          id: started.sessionId,
          object: 'checkout.session',
          customer: 'cus_x',
          setup_intent: 'seti_declined',
          metadata: { customerId: customer.id, planKey: 'growth' },
        },
      },
    });
    expect(await h.subscriptions.currentForCustomer(customer.id)).toBeNull();
    const [invoice] = await h.billing.service.list({ customerId: customer.id });
    expect(invoice?.status).toBe('void');
    expect(invoice?.lastPaymentError).toContain('generic_decline');
  });

  it('webhooks for another rail are a 404 problem', async () => {
    const response = await app.request('/api/billing/webhooks/paddle', { method: 'POST', body: '{}' });
    expect(response.status).toBe(404);
  });
});
