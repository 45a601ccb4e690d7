import { createHmac } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mountBillingRoutes, subscriptionPort } from '../../src/billing/index.ts';
import { createRail } from '../../src/billing/rails/index.ts';
import { createConsoleApp } from '../../src/http/hono.ts';
import { billingPort } from '../../src/portal/module-adapters/billing-port.ts';
import { silentLogger } from '../../src/util/log.ts';
import { billingConfig, type Harness, isDocumentMail, openHarness } from './harness.ts';

/**
 * The real `@paddle/paddle-node-sdk` against a small fake Paddle Billing API (no network):
 * customers, transactions with a checkout URL, transaction custom data, adjustments (refunds),
 * and webhooks signed like Paddle's (`Paddle-Signature: ts=…;h1=…`), verified by
 * `paddle.webhooks.unmarshal`. The rail is built from the config (`billing.rail.type: 'paddle'`).
 */
const WEBHOOK_SECRET = 'pdl_ntfset_test_fake_paddle_secret';
type Json = Record<string, unknown>;
let server: Server;
let h: Harness;
let app: Hono;
const requests: { method: string; path: string; body: Json; auth: string | undefined }[] = [];
const transactions = new Map<string, Json>();
let n = 0;

function transaction(body: Json): Json {
  const id = `txn_${++n}`;
  const items = (body.items as Json[]) ?? [];
  return {
    id,
    status: 'ready',
    customer_id: body.customer_id ?? null,
    custom_data: body.custom_data ?? null,
    currency_code: body.currency_code ?? 'USD',
    origin: 'api',
    collection_mode: body.collection_mode ?? 'automatic',
    items: [],
    details: {
      tax_rates_used: [],
      totals: null,
      line_items: items.map((_, i) => ({ id: `txnitm_${n}_${i}`, price_id: `pri_${n}_${i}`, quantity: 1 })),
    },
    payments: [],
    checkout: { url: `https://pay.paddle.test/checkout?_ptxn=${id}` },
    created_at: new Date().toISOString(),
    updated_at: new Date().toISOString(),
  };
}

function fakePaddle(method: string, path: string, body: Json): { status: number; body: unknown } {
  if (method === 'POST' && path === '/customers') {
    if (body.email === 'taken@example.com') {
      return {
        status: 409,
        body: {
          error: {
            type: 'request_error',
            code: 'customer_already_exists',
            detail: 'customer email conflicts with customer of id ctm_existing01',
            documentation_url: 'https://developer.paddle.com/v1/errors/customers/customer_already_exists',
          },
        },
      };
    }
    return {
      status: 201,
      body: {
        data: {
          id: `ctm_${++n}`,
          email: body.email,
          name: body.name,
          status: 'active',
          custom_data: body.custom_data,
          marketing_consent: false,
          locale: 'en',
          created_at: new Date().toISOString(),
          updated_at: new Date().toISOString(),
        },
      },
    };
  }
  if (method === 'POST' && path === '/transactions') {
    const txn = transaction(body);
    transactions.set(txn.id as string, txn);
    return { status: 201, body: { data: txn } };
  }
  const txnMatch = /^\/transactions\/(txn_\w+)$/.exec(path);
  if (txnMatch) {
    const txn = transactions.get(txnMatch[1] as string);
    if (!txn)
      return { status: 404, body: { error: { type: 'request_error', code: 'not_found', detail: 'no' } } };
    if (method === 'PATCH' && body.custom_data) txn.custom_data = body.custom_data;
    return { status: 200, body: { data: txn } };
  }
  if (method === 'POST' && path === '/adjustments') {
    return {
      status: 201,
      body: {
        data: {
          id: `adj_${++n}`,
          action: body.action,
          type: body.type,
          transaction_id: body.transaction_id,
          customer_id: 'ctm_x',
          reason: body.reason,
          currency_code: 'USD',
          status: 'pending_approval',
          items: [],
          totals: { subtotal: '0', tax: '0', total: '0', fee: '0', earnings: '0', currency_code: 'USD' },
          created_at: new Date().toISOString(),
          updated_at: new Date().toISOString(),
        },
      },
    };
  }
  return {
    status: 404,
    body: { error: { type: 'request_error', code: 'not_found', detail: `no fake for ${method} ${path}` } },
  };
}

beforeAll(async () => {
  server = createServer((req, res) => {
    let raw = '';
    req.on('data', (c) => {
      raw += c;
    });
    req.on('end', () => {
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      const body = raw ? (JSON.parse(raw) as Json) : {};
      requests.push({ method: req.method ?? 'GET', path, body, auth: req.headers.authorization });
      const answer = fakePaddle(req.method ?? 'GET', path, body);
      res.writeHead(answer.status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(answer.body));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const config = billingConfig({
    billing: {
      rail: {
        type: 'paddle',
        apiKey: 'pdl_sdbx_apikey_fake',
        webhookSecret: WEBHOOK_SECRET,
        apiBase: `http://127.0.0.1:${port}`,
      },
    },
  });
  h = await openHarness({
    start: '2026-01-01T00:00:00Z',
    config,
    rail: (store) => createRail(config, store.db),
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

/** Signs like Paddle: `ts=<unix seconds>;h1=<hex HMAC-SHA256 of "ts:body">`. */
async function sendWebhook(eventType: string, data: Json, secret = WEBHOOK_SECRET, eventId = `evt_${++n}`) {
  const payload = JSON.stringify({
    event_id: eventId,
    event_type: eventType,
    occurred_at: new Date().toISOString(),
    notification_id: `ntf_${n}`,
    data,
  });
  const ts = Math.floor(Date.now() / 1000);
  const h1 = createHmac('sha256', secret).update(`${ts}:${payload}`).digest('hex');
  return app.request('/api/billing/webhooks/paddle', {
    method: 'POST',
    headers: { 'paddle-signature': `ts=${ts};h1=${h1}`, 'content-type': 'application/json' },
    body: payload,
  });
}

/** Paddle's side of a customer paying on the hosted checkout: the transaction completes. */
function complete(txnId: string, last4 = '4242'): Json {
  const txn = transactions.get(txnId) as Json;
  txn.status = 'completed';
  txn.payments = [
    {
      payment_attempt_id: `pa_${++n}`,
      payment_method_id: `paymtd_${n}`,
      stored_payment_method_id: `paymtd_${n}`,
      amount: '4900',
      status: 'captured',
      error_code: null,
      method_details: {
        type: 'card',
        card: { type: 'visa', last4, expiry_month: 1, expiry_year: 2030, cardholder_name: 'Pat' },
      },
      created_at: new Date().toISOString(),
      captured_at: new Date().toISOString(),
    },
  ];
  return txn;
}

const admin = { authorization: 'Bearer admin-token-admin-token', 'content-type': 'application/json' };

describe('paddle rail against a fake Paddle', () => {
  let invoiceId = '';
  let checkoutTxn = '';

  it('checkout is a Paddle transaction; its signed transaction.completed activates the subscription and pays the first invoice', async () => {
    const customer = await h.customers.create({ name: 'Paddle Org', email: 'p@example.com' });
    const started = await h.billing.service.startCheckout(customer.id, 'pro', {
      returnUrl: 'http://portal.test/done',
    });
    expect(started.url).toMatch(/^https:\/\/pay\.paddle\.test\/checkout\?_ptxn=txn_/);
    expect(await h.subscriptions.currentForCustomer(customer.id)).toBeNull();
    const createCustomer = requests.find((r) => r.path === '/customers');
    expect(createCustomer?.auth).toBe('bearer pdl_sdbx_apikey_fake');
    expect(createCustomer?.body).toMatchObject({
      email: 'p@example.com',
      custom_data: { tollgateCustomerId: customer.id },
    });
    const created = requests.find((r) => r.method === 'POST' && r.path === '/transactions');
    const item = (created!.body.items as Json[])[0] as { price: { unit_price: Json } };
    expect(item.price.unit_price).toEqual({ amount: '4900', currency_code: 'USD' });
    expect(created?.body.custom_data).toMatchObject({
      tollgateKind: 'checkout',
      planKey: 'pro',
      amount: '49.00',
    });
    checkoutTxn = started.sessionId;

    const response = await sendWebhook(
      'transaction.completed',
      complete(checkoutTxn),
      WEBHOOK_SECRET,
      'evt_checkout_1',
    );
    expect(response.status).toBe(200);
    const sub = await h.subscriptions.currentForCustomer(customer.id);
    expect(sub).toMatchObject({ planKey: 'pro', status: 'active' });
    const [invoice] = await h.billing.service.list({ subscriptionId: sub!.id });
    expect(invoice).toMatchObject({ status: 'paid', total: '49.00' });
    invoiceId = invoice!.id;
    // The checkout payment was applied to this invoice once, marked in Paddle's custom data.
    expect((transactions.get(checkoutTxn)!.custom_data as Json).appliedTo).toBe(`inv:${invoiceId}:attempt:1`);
    expect(requests.filter((r) => r.method === 'POST' && r.path === '/transactions')).toHaveLength(1);
    const label = await h.billing.service.paymentMethod(customer.id);
    expect(label?.payment_method_label).toBe('Paddle card •••• 4242');

    // The same notification again changes nothing.
    const again = await sendWebhook(
      'transaction.completed',
      transactions.get(checkoutTxn) as Json,
      WEBHOOK_SECRET,
      'evt_checkout_1',
    );
    expect(again.status).toBe(200);
    expect(await h.billing.service.list({ customerId: customer.id })).toHaveLength(1);
  });

  it('refuses a webhook with a bad signature with problem+json, changing nothing', async () => {
    const response = await sendWebhook(
      'transaction.completed',
      transactions.get(checkoutTxn) as Json,
      'pdl_ntfset_wrong',
    );
    expect(response.status).toBe(400);
    expect(response.headers.get('content-type')).toBe('application/problem+json');
    expect(((await response.json()) as { detail: string }).detail).toContain('signature');
  });

  it('refunds through a Paddle adjustment (pending Paddle approval)', async () => {
    const response = await app.request(`/api/admin/invoices/${invoiceId}/refund`, {
      method: 'POST',
      headers: admin,
      body: JSON.stringify({ amount: '10.00' }),
    });
    expect(response.status).toBeLessThan(300);
    const refund = (await response.json()) as { purpose: string; status: string; amount: string };
    expect(refund).toMatchObject({ purpose: 'refund', status: 'pending' });
    expect(Number(refund.amount)).toBe(10);
    const adjustment = requests.find((r) => r.path === '/adjustments');
    expect(adjustment?.body).toMatchObject({
      action: 'refund',
      type: 'partial',
      transaction_id: checkoutTxn,
      items: [{ item_id: `txnitm_${checkoutTxn.slice(4)}_0`, type: 'partial', amount: '1000' }],
    });
  });

  it('renewal: the next invoice is a Paddle transaction with a payment link, paid by its webhook', async () => {
    // January's period invoice is empty (its fee was paid at checkout); February's carries the fee.
    h.clock.set('2026-02-01T00:00:00Z');
    await h.billing.service.runBilling();
    h.clock.set('2026-03-01T00:00:00Z');
    await h.billing.service.runBilling();
    const customer = (await h.customers.list()).find((c) => c.email === 'p@example.com');
    const invoices = await h.billing.service.list({ customerId: customer!.id });
    const renewal = invoices.find((i) => i.status === 'issued');
    expect(renewal).toMatchObject({ status: 'issued', total: '49.00' });
    const [payment] = await h.billing.service.payments(renewal!.id);
    expect(payment?.rail_ref).toMatch(/^txn_/);
    const txn = transactions.get(payment!.rail_ref as string) as Json;
    expect(txn.custom_data).toMatchObject({
      tollgateKind: 'invoice',
      idempotencyKey: payment?.idempotency_key,
    });

    const response = await sendWebhook('transaction.completed', complete(txn.id as string));
    expect(response.status).toBe(200);
    expect((await h.billing.service.mustGet(renewal!.id)).status).toBe('paid');
  });

  it('a failed attempt on the checkout page creates nothing; an existing Paddle customer is reused', async () => {
    const customer = await h.customers.create({ name: 'Taken Org', email: 'taken@example.com' });
    const started = await h.billing.service.startCheckout(customer.id, 'growth', {});
    expect((await h.billing.service.paymentMethod(customer.id))?.rail_customer_id).toBe('ctm_existing01');
    const txn = transactions.get(started.sessionId) as Json;
    const response = await sendWebhook('transaction.payment_failed', {
      ...txn,
      payments: [
        {
          payment_attempt_id: 'pa_x',
          amount: '2000',
          status: 'error',
          error_code: 'declined',
          created_at: new Date().toISOString(),
        },
      ],
    });
    expect(response.status).toBe(200);
    expect(await h.subscriptions.currentForCustomer(customer.id)).toBeNull();
    expect(await h.billing.service.list({ customerId: customer.id })).toHaveLength(0);
  });

  it('a coupon at checkout: Paddle is asked for the discounted amount, which pays the discounted first invoice', async () => {
    await h.billing.service.discounts.createCoupon({ code: 'PADDLE20', percentOff: '20' });
    const customer = await h.customers.create({ name: 'Coupon Org', email: 'coupon@example.com' });
    const started = await h.billing.service.startCheckout(customer.id, 'pro', { coupon: 'paddle20' });
    const created = requests.filter((r) => r.method === 'POST' && r.path === '/transactions').at(-1);
    const item = (created!.body.items as Json[])[0] as { price: { unit_price: Json } };
    expect(item.price.unit_price).toEqual({ amount: '3920', currency_code: 'USD' });
    expect(created?.body.custom_data).toMatchObject({ coupon: 'paddle20', amount: '39.20' });

    expect((await sendWebhook('transaction.completed', complete(started.sessionId))).status).toBe(200);
    const sub = await h.subscriptions.currentForCustomer(customer.id);
    const [invoice] = await h.billing.service.list({ subscriptionId: sub!.id });
    expect(invoice).toMatchObject({ status: 'paid', total: '39.20' });
    expect(invoice?.lines.map((l) => [l.description, l.amount])).toEqual([
      ['Pro subscription', '49.00'],
      ['Coupon PADDLE20 (20% off)', '-9.80'],
    ]);
    // Paid by the checkout transaction itself: no second Paddle transaction for the first invoice.
    expect((transactions.get(started.sessionId)!.custom_data as Json).appliedTo).toBe(
      `inv:${invoice!.id}:attempt:1`,
    );
    expect((await h.billing.service.discounts.getCoupon('PADDLE20')).timesRedeemed).toBe(1);
  });

  it('a coupon held while its Paddle checkout is open: the next customer is told "used up", the paying one gets the discounted subscription', async () => {
    await h.billing.service.discounts.createCoupon({
      code: 'PADDLELAST',
      percentOff: '20',
      maxRedemptions: 1,
    });
    const payer = await h.customers.create({ name: 'Payer Org', email: 'payer-last@example.com' });
    const started = await h.billing.service.startCheckout(payer.id, 'pro', { coupon: 'paddlelast' });
    expect(started.url).toMatch(/^https:\/\/pay\.paddle\.test\//);

    // The last redemption is the payer's while Paddle's page is open: no second quote gets it.
    const late = await h.customers.create({ name: 'Late Org', email: 'late-last@example.com' });
    const transactionsBefore = transactions.size;
    await expect(
      h.billing.service.startCheckout(late.id, 'pro', { coupon: 'paddlelast' }),
    ).rejects.toMatchObject({
      status: 409,
      detail: 'Coupon "PADDLELAST" has been redeemed the most times it can be.',
    });
    expect(transactions.size).toBe(transactionsBefore); // refused before Paddle was asked for anything

    // The coupon is archived while the payer is on the page: they paid 39.20 and get what they paid for.
    await h.billing.service.discounts.archiveCoupon('PADDLELAST');
    expect((await sendWebhook('transaction.completed', complete(started.sessionId))).status).toBe(200);
    const sub = await h.subscriptions.currentForCustomer(payer.id);
    expect(sub?.planKey).toBe('pro');
    const [invoice] = await h.billing.service.list({ subscriptionId: sub!.id });
    expect(invoice).toMatchObject({ status: 'paid', total: '39.20' });
    expect(invoice?.lines.map((l) => l.description)).toContain('Coupon PADDLELAST (20% off)');
    expect((await h.billing.service.discounts.getCoupon('PADDLELAST')).timesRedeemed).toBe(1);
  });

  it('the bound of a hold: after 24 hours it frees the redemption, and a page paid later is still honoured (one over the limit)', async () => {
    await h.billing.service.discounts.createCoupon({
      code: 'PADDLESLOW',
      percentOff: '20',
      maxRedemptions: 1,
    });
    const slow = await h.customers.create({ name: 'Slow Org', email: 'slow-payer@example.com' });
    const slowCheckout = await h.billing.service.startCheckout(slow.id, 'pro', { coupon: 'paddleslow' });
    h.clock.advance(25 * 3_600_000); // past the 24-hour hold
    const quick = await h.customers.create({ name: 'Quick Org', email: 'quick-payer@example.com' });
    const quickCheckout = await h.billing.service.startCheckout(quick.id, 'pro', { coupon: 'paddleslow' });
    expect((await sendWebhook('transaction.completed', complete(quickCheckout.sessionId))).status).toBe(200);
    expect((await h.billing.service.discounts.getCoupon('PADDLESLOW')).timesRedeemed).toBe(1);

    // The slow customer paid the quoted 39.20 on a page opened 25 hours ago: honoured, not refused.
    expect((await sendWebhook('transaction.completed', complete(slowCheckout.sessionId))).status).toBe(200);
    for (const customer of [slow, quick]) {
      const sub = await h.subscriptions.currentForCustomer(customer.id);
      const [invoice] = await h.billing.service.list({ subscriptionId: sub!.id });
      expect(invoice).toMatchObject({ status: 'paid', total: '39.20' });
    }
    expect((await h.billing.service.discounts.getCoupon('PADDLESLOW')).timesRedeemed).toBe(2);
  });
});

describe('paddle renewals: the payment link and dunning', () => {
  it('keeps the link on the invoice, mails it, reminds on the retry days, suspends after the grace period, and the paid link reactivates', async () => {
    h.clock.set('2026-06-01T00:00:00Z');
    const customer = await h.customers.create({ name: 'Link Org', email: 'link@example.com' });
    const started = await h.billing.service.startCheckout(customer.id, 'pro', {});
    await sendWebhook('transaction.completed', complete(started.sessionId));
    const sub = await h.subscriptions.currentForCustomer(customer.id);
    expect(sub).toMatchObject({ status: 'active' });
    // June's fee was paid at checkout; July's is the first renewal Paddle cannot collect by itself.
    h.clock.set('2026-07-01T00:00:00Z');
    await h.billing.service.runBilling();
    h.clock.set('2026-08-01T00:00:00Z');
    const transactionsBefore = transactions.size;
    const mailsBefore = h.mails.length;
    await h.billing.service.runBilling();
    const renewal = (await h.billing.service.list({ customerId: customer.id })).find(
      (i) => i.status === 'issued',
    );
    expect(renewal).toMatchObject({ total: '49.00', paymentAttempts: 1 });
    const [payment] = await h.billing.service.payments(renewal!.id);
    const link = `https://pay.paddle.test/checkout?_ptxn=${payment?.rail_ref}`;
    expect(renewal?.paymentUrl).toBe(link);
    expect(renewal?.nextPaymentAttemptAt).toBe('2026-08-02T00:00:00.000Z');
    expect((await h.subscriptions.require(sub!.id)).status).toBe('past_due');

    // The admin API and the portal show the link; the portal's Pay opens it instead of charging again.
    const detail = await app.request(`/api/admin/invoices/${renewal!.id}`, { headers: admin });
    expect(((await detail.json()) as { paymentUrl: string }).paymentUrl).toBe(link);
    const portal = billingPort({
      billing: h.billing.service,
      subscriptions: h.subscriptions,
      customers: h.customers,
      catalog: h.catalog,
      clock: h.clock,
      config: () => h.config,
    });
    expect(portal.railName).toBe('paddle');
    expect((await portal.getInvoice(customer.id, renewal!.id))?.paymentUrl).toBe(link);
    expect(await portal.payInvoice(customer.id, renewal!.id)).toEqual({ status: 'redirect', url: link });
    // One mail for the renewal, and it carries the link (not an invoice mail saying the card on
    // file is charged, then a second one with the link).
    const mails = () => h.mails.slice(mailsBefore).filter((m) => m.to === 'link@example.com');
    expect(mails()).toHaveLength(1);
    expect(mails()[0]?.subject).toBe(`Invoice ${renewal?.number}: 49.00 USD to pay`);
    expect(mails()[0]?.text).toContain(link);

    // Retry days: the same link again (one Paddle transaction: paying it must count), no new charge.
    h.clock.set('2026-08-02T00:00:00Z');
    expect((await h.billing.service.runDunning()).retried).toBeGreaterThanOrEqual(1);
    let current = await h.billing.service.mustGet(renewal!.id);
    expect(current).toMatchObject({
      paymentAttempts: 2,
      paymentUrl: link,
      nextPaymentAttemptAt: '2026-08-04T00:00:00.000Z',
    });
    expect(mails()).toHaveLength(2);
    expect(mails()[1]?.text).toContain(link);
    expect(await h.billing.service.payments(renewal!.id)).toHaveLength(1);
    const created = [...transactions.values()].filter(
      (t) => (t.custom_data as Json)?.reference === renewal!.id,
    );
    expect(created).toHaveLength(1);
    expect(transactions.size - transactionsBefore).toBeGreaterThanOrEqual(1);

    // A declined card on that page: the customer stays there, the same link stays payable.
    const declined = await sendWebhook('transaction.payment_failed', {
      ...(transactions.get(payment!.rail_ref as string) as Json),
      payments: [
        {
          payment_attempt_id: 'pa_declined',
          amount: '4900',
          status: 'error',
          error_code: 'declined',
          created_at: new Date().toISOString(),
        },
      ],
    });
    expect(declined.status).toBe(200);
    expect(await h.billing.service.payments(renewal!.id)).toMatchObject([{ status: 'pending' }]);
    expect((await h.billing.service.mustGet(renewal!.id)).paymentUrl).toBe(link);

    // Seven days of grace after the invoice was issued unpaid: suspended.
    h.clock.set('2026-08-08T00:00:00Z');
    await h.billing.service.runDunning();
    expect((await h.subscriptions.require(sub!.id)).status).toBe('suspended');
    expect(mails().map((m) => m.subject)).toContain('Your API access is suspended');

    // The customer pays through the link: Paddle's webhook settles it and access is back at once.
    const response = await sendWebhook('transaction.completed', complete(payment!.rail_ref as string));
    expect(response.status).toBe(200);
    current = await h.billing.service.mustGet(renewal!.id);
    expect(current).toMatchObject({ status: 'paid', paymentUrl: null, nextPaymentAttemptAt: null });
    expect((await h.subscriptions.require(sub!.id)).status).toBe('active');
    expect(h.events.map((e) => e.type)).toEqual(
      expect.arrayContaining([
        'invoice.payment_failed',
        'subscription.suspended',
        'subscription.reactivated',
      ]),
    );
    const failed = h.events.find(
      (e) => e.type === 'invoice.payment_failed' && (e.data.invoice as { id: string }).id === renewal!.id,
    );
    expect(failed?.data).toMatchObject({ failureCode: 'payment_required', paymentUrl: link });
  });
});

describe('paddle top-ups: the payment link', () => {
  it('a top-up answers with its checkout link; the credit arrives only with transaction.completed', async () => {
    const customer = await h.customers.create({ name: 'Topup Org', email: 'topup@example.com' });
    const credits = h.billing.service.credits;
    const { payment, paymentUrl } = await h.billing.service.topUp(customer.id, '25.00', 'USD');
    expect(payment).toMatchObject({ purpose: 'topup', status: 'pending' });
    expect(paymentUrl).toBe(`https://pay.paddle.test/checkout?_ptxn=${payment.rail_ref}`);
    const txn = transactions.get(payment.rail_ref as string) as Json;
    expect(txn.custom_data).toMatchObject({ purpose: 'topup', idempotencyKey: payment.idempotency_key });
    expect(await credits.balance(customer.id, 'USD')).toBe('0.00');

    // A declined card on Paddle's page: nothing granted, the same link stays payable.
    await sendWebhook('transaction.payment_failed', {
      ...txn,
      payments: [{ payment_attempt_id: 'pa_t', amount: '2500', status: 'error', error_code: 'declined' }],
    });
    expect(await credits.balance(customer.id, 'USD')).toBe('0.00');

    const paid = complete(txn.id as string);
    expect((await sendWebhook('transaction.completed', paid, WEBHOOK_SECRET, 'evt_topup_1')).status).toBe(
      200,
    );
    expect(await credits.balance(customer.id, 'USD')).toBe('25.00');
    await sendWebhook('transaction.completed', paid, WEBHOOK_SECRET, 'evt_topup_1');
    expect(await credits.balance(customer.id, 'USD')).toBe('25.00');
    expect((await credits.ledger(customer.id)).map((e) => e.kind)).toEqual(['topup']);
  });

  it('auto-recharge on Paddle mails the link and sends it with credits.auto_recharged; one open top-up at a time', async () => {
    h.clock.set('2026-09-01T00:00:00Z');
    const customer = await h.customers.create({ name: 'Recharge Org', email: 'recharge@example.com' });
    await h.subscriptions.subscribe({ customerId: customer.id, planKey: 'pro' });
    const credits = h.billing.service.credits;
    await credits.grant({ customerId: customer.id, currency: 'USD', amount: '60.00' });
    await credits.configure({
      customerId: customer.id,
      currency: 'USD',
      autoRecharge: { threshold: '20.00', amount: '50.00' },
    });
    h.clock.set('2026-10-01T00:00:00Z');
    await h.billing.service.runBilling();
    // 60 − 49 = 11 < 20: a 50.00 top-up, waiting for the customer on Paddle's page.
    expect(await credits.balance(customer.id, 'USD')).toBe('11.00');
    const recharged = h.events.find(
      (e) => e.type === 'credits.auto_recharged' && e.data.customerId === customer.id,
    );
    const link = recharged?.data.paymentUrl as string;
    expect(link).toMatch(/^https:\/\/pay\.paddle\.test\/checkout\?_ptxn=txn_/);
    const mail = h.mails.find((m) => m.to === 'recharge@example.com' && !isDocumentMail(m));
    expect(mail?.subject).toBe('Prepaid credits: 50.00 USD to pay');
    expect(mail?.text).toContain(link);

    // The next drawdown starts no second top-up while the link is unpaid.
    h.clock.set('2026-11-01T00:00:00Z');
    await h.billing.service.runBilling();
    expect(
      h.events.filter((e) => e.type === 'credits.auto_recharged' && e.data.customerId === customer.id),
    ).toHaveLength(1);
    expect(await credits.balance(customer.id, 'USD')).toBe('0.00');

    const txnId = new URL(link).searchParams.get('_ptxn') as string;
    await sendWebhook('transaction.completed', complete(txnId));
    expect(await credits.balance(customer.id, 'USD')).toBe('50.00');
    expect(h.events.map((e) => e.type)).toContain('credits.topped_up');
  });
});
