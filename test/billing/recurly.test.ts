import { createHmac } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mountBillingRoutes, subscriptionPort } from '../../src/billing/index.ts';
import { createRail } from '../../src/billing/rails/index.ts';
import { createRecurlyRail, verifyRecurlySignature } from '../../src/billing/rails/recurly.ts';
import { createConsoleApp } from '../../src/http/hono.ts';
import { silentLogger } from '../../src/util/log.ts';
import { billingConfig, DAY, type Harness, openHarness } from './harness.ts';

/**
 * The official `recurly` SDK against a small fake Recurly v3 API (no network): accounts by code,
 * the hosted billing-info page for checkout, purchases with Idempotency-Key, declines as Recurly
 * answers them (422 `transaction` errors), invoice refunds, and JSON webhooks signed as Recurly
 * signs them (`recurly-signature: <unix ms>,<hex HMAC-SHA256 of "<ts>.<body>">`,
 * https://docs.recurly.com/recurly-subscriptions/docs/signature-verification).
 */
const WEBHOOK_SECRET = 'recurly-webhook-secret-key';
const ADMIN = { authorization: 'Bearer admin-token-admin-token', 'content-type': 'application/json' };
let server: Server;
let h: Harness;
let app: Hono;
let n = 0;
const requests: { method: string; path: string; body: Record<string, unknown>; idempotencyKey?: string }[] =
  [];
const accounts = new Map<string, Record<string, unknown>>();
const transactions = new Map<string, Record<string, unknown>>();
const byKey = new Map<string, { status: number; body: unknown }>();
/** Account codes whose next purchases are declined, or left pending (settled by webhook). */
const declining = new Set<string>();
const pending = new Set<string>();

function fakeRecurly(
  method: string,
  path: string,
  body: Record<string, unknown>,
): { status: number; body: unknown } {
  const id = (prefix: string) => `${prefix}${++n}`;
  if (method === 'POST' && path === '/accounts') {
    const account = {
      object: 'account',
      id: id('acc'),
      code: body.code,
      email: body.email,
      hosted_login_token: id('hlt'),
    };
    accounts.set(String(body.code), account);
    return { status: 201, body: account };
  }
  const accountPath = /^\/accounts\/code-(.+)$/.exec(path);
  if (accountPath) {
    const account = accounts.get(decodeURIComponent(accountPath[1] as string));
    if (!account) return { status: 404, body: { error: { type: 'not_found', message: 'Not found' } } };
    if (method === 'PUT') Object.assign(account, { custom_fields: body.custom_fields });
    return { status: 200, body: account };
  }
  if (method === 'POST' && path === '/purchases') {
    const code = String((body.account as { code: string }).code);
    const items = body.line_items as { unit_amount: number }[];
    const txnId = id('txn');
    const uuid = `uuid${n}`;
    if (declining.has(code)) {
      return {
        status: 422,
        body: {
          error: {
            type: 'transaction',
            message: 'Your card has insufficient funds.',
            transaction_error: {
              object: 'transaction_error',
              transaction_id: txnId,
              code: 'insufficient_funds',
              decline_code: 'insufficient_funds',
              message: 'Your card has insufficient funds.',
            },
          },
        },
      };
    }
    const invoiceId = id('rinv');
    const state = pending.has(code) ? 'pending' : 'paid';
    transactions.set(uuid, {
      object: 'transaction',
      id: txnId,
      uuid,
      status: state === 'paid' ? 'success' : 'scheduled',
      invoice: { object: 'invoice_mini', id: invoiceId },
    });
    return {
      status: 201,
      body: {
        object: 'invoice_collection',
        charge_invoice: {
          object: 'invoice',
          id: invoiceId,
          state,
          total: items[0]?.unit_amount,
          transactions: [
            { object: 'transaction', id: txnId, uuid, status: state === 'paid' ? 'success' : 'scheduled' },
          ],
        },
        credit_invoices: [],
      },
    };
  }
  const txnPath = /^\/transactions\/uuid-(.+)$/.exec(path);
  if (method === 'GET' && txnPath) {
    const txn = transactions.get(txnPath[1] as string);
    return txn
      ? { status: 200, body: txn }
      : { status: 404, body: { error: { type: 'not_found', message: 'Not found' } } };
  }
  const refundPath = /^\/invoices\/(.+)\/refund$/.exec(path);
  if (method === 'POST' && refundPath) {
    return {
      status: 201,
      body: {
        object: 'invoice',
        id: id('rcredit'),
        type: 'credit',
        transactions: [
          { object: 'transaction', id: id('txn'), type: 'refund', status: 'success', amount: body.amount },
        ],
      },
    };
  }
  return { status: 404, body: { error: { type: 'not_found', message: `no fake for ${method} ${path}` } } };
}

function sign(body: string, secret = WEBHOOK_SECRET, at = Date.now()): string {
  return `${at},${createHmac('sha256', secret).update(`${at}.${body}`).digest('hex')}`;
}

async function sendWebhook(event: Record<string, unknown>, signature?: string) {
  const body = JSON.stringify(event);
  return app.request('/api/billing/webhooks/recurly', {
    method: 'POST',
    headers: { 'recurly-signature': signature ?? sign(body), 'content-type': 'application/json' },
    body,
  });
}

beforeAll(async () => {
  server = createServer((req, res) => {
    let raw = '';
    req.on('data', (c) => {
      raw += c;
    });
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://x');
      const body = raw ? (JSON.parse(raw) as Record<string, unknown>) : {};
      const idempotencyKey = req.headers['idempotency-key'] as string | undefined;
      requests.push({ method: req.method ?? 'GET', path: url.pathname, body, idempotencyKey });
      const previous = idempotencyKey ? byKey.get(`${url.pathname}:${idempotencyKey}`) : undefined;
      const answer = previous ?? fakeRecurly(req.method ?? 'GET', url.pathname, body);
      if (idempotencyKey && !previous) byKey.set(`${url.pathname}:${idempotencyKey}`, answer);
      res.writeHead(answer.status, { 'content-type': 'application/json; charset=utf-8' });
      res.end(JSON.stringify(answer.body));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  h = await openHarness({
    start: '2026-01-01T00:00:00Z',
    rail: () =>
      createRecurlyRail({
        apiKey: 'recurly-private-key',
        webhookSecret: WEBHOOK_SECRET,
        subdomain: 'acme',
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

let customerId: string;
let firstInvoiceId: string;

describe('recurly rail against a fake Recurly', () => {
  it('checkout sends the customer to Recurly’s hosted billing-info page; its signed webhook subscribes and charges', async () => {
    const customer = await h.customers.create({ name: 'Recurly Org', email: 'r@example.com' });
    customerId = customer.id;
    const started = await h.billing.service.startCheckout(customer.id, 'pro', {
      returnUrl: 'http://portal.test/done',
    });
    const hlt = accounts.get(customer.id)?.hosted_login_token as string;
    expect(started.url).toBe(`https://acme.recurly.com/account/billing_info/edit?ht=${hlt}`);
    expect(await h.subscriptions.currentForCustomer(customer.id)).toBeNull();

    // The customer enters a card on Recurly's page; Recurly notifies.
    accounts.get(customer.id)!.billing_info = {
      object: 'billing_info',
      payment_method: { object: 'payment_method', card_type: 'Visa', last_four: '1111' },
    };
    const completed = await sendWebhook({
      id: 'ntf_1',
      object_type: 'billing_info',
      event_type: 'updated',
      account_code: customer.id,
      event_time: new Date().toISOString(),
    });
    expect(completed.status).toBe(200);
    const sub = await h.subscriptions.currentForCustomer(customer.id);
    expect(sub?.planKey).toBe('pro');
    const [invoice] = await h.billing.service.list({ subscriptionId: sub!.id });
    firstInvoiceId = invoice!.id;
    expect(invoice).toMatchObject({ status: 'paid', total: '49.00' });
    const purchase = requests.find((r) => r.path === '/purchases');
    expect(purchase?.idempotencyKey).toBe(`inv:${invoice!.id}:attempt:1`);
    expect(purchase?.body).toMatchObject({
      currency: 'USD',
      account: { code: customer.id },
      line_items: [{ unit_amount: 49, type: 'charge', currency: 'USD' }],
    });
    expect((await h.billing.service.paymentMethod(customer.id))?.payment_method_label).toBe('Visa •••• 1111');
  });

  it('a declined renewal enters dunning with Recurly’s decline code; the retry on day 1 collects it', async () => {
    // February's fee is billed at the end of February (January's was paid at checkout).
    declining.add(customerId);
    h.clock.set('2026-03-01T00:00:10Z');
    await h.billing.service.runBilling();
    const sub = await h.subscriptions.currentForCustomer(customerId);
    const renewal = (await h.billing.service.list({ customerId })).find((i) =>
      i.periodFrom.startsWith('2026-02'),
    );
    expect(renewal).toMatchObject({
      status: 'issued',
      lastPaymentError: expect.stringContaining('insufficient'),
    });
    expect(sub?.status).toBe('past_due');
    expect(h.events.some((e) => e.type === 'invoice.payment_failed')).toBe(true);

    declining.delete(customerId);
    h.clock.set(new Date(Date.parse('2026-03-01T00:00:10Z') + DAY + 60_000).toISOString());
    await h.billing.service.runDunning();
    expect((await h.billing.service.mustGet(renewal!.id)).status).toBe('paid');
    expect((await h.subscriptions.currentForCustomer(customerId))?.status).toBe('active');
    const retry = requests.filter((r) => r.path === '/purchases').at(-1);
    expect(retry?.idempotencyKey).toBe(`inv:${renewal!.id}:attempt:2`);
  });

  it('a charge Recurly leaves pending is settled by its signed payment webhook', async () => {
    pending.add(customerId);
    const invoice = await h.billing.service.createManualInvoice({
      customerId,
      currency: 'USD',
      lines: [{ description: 'Setup', unitPrice: '15.00' }],
      issue: true,
    });
    expect((await h.billing.service.mustGet(invoice.id)).status).toBe('issued');
    pending.delete(customerId);
    const [uuid, txn] = [...transactions.entries()].at(-1)!;
    txn.status = 'success';
    const paid = await sendWebhook({
      id: 'ntf_2',
      object_type: 'payment',
      event_type: 'succeeded',
      account_code: customerId,
      uuid,
    });
    expect(paid.status).toBe(200);
    expect((await h.billing.service.mustGet(invoice.id)).status).toBe('paid');
    // Delivered again: nothing changes.
    expect(
      (
        await sendWebhook({
          id: 'ntf_2',
          object_type: 'payment',
          event_type: 'succeeded',
          account_code: customerId,
          uuid,
        })
      ).status,
    ).toBe(200);
    expect(
      (await h.billing.service.payments(invoice.id)).filter((p) => p.status === 'succeeded'),
    ).toHaveLength(1);
  });

  it('refunds through Recurly’s invoice refund with the credit note’s idempotency key', async () => {
    const railInvoice = (await h.billing.service.payments(firstInvoiceId)).find(
      (p) => p.purpose === 'invoice',
    )?.rail_ref;
    const response = await app.request(`/api/admin/invoices/${firstInvoiceId}/refund`, {
      method: 'POST',
      headers: ADMIN,
      body: JSON.stringify({ amount: '12.34' }),
    });
    expect(response.status).toBe(201);
    const refund = (await response.json()) as {
      status: string;
      creditNote: { id: string; number: string; total: string };
    };
    expect(refund).toMatchObject({ status: 'succeeded', creditNote: { total: '12.34' } });
    const call = requests.find((r) => r.path === `/invoices/${railInvoice}/refund`);
    expect(call?.body).toEqual({ type: 'amount', amount: 12.34 });
    expect(call?.idempotencyKey).toBe(`refund:${refund.creditNote.id}`);
  });

  it('refuses forged, stale and unsigned webhooks with problem+json, changing nothing', async () => {
    const event = { id: 'ntf_forged', object_type: 'payment', event_type: 'succeeded', uuid: 'nope' };
    const body = JSON.stringify(event);
    for (const signature of [
      sign(body, 'wrong-secret'),
      sign(body, WEBHOOK_SECRET, Date.now() - 10 * 60_000),
      '',
      'garbage',
    ]) {
      const response = await sendWebhook(event, signature);
      expect(response.status).toBe(400);
      expect(response.headers.get('content-type')).toBe('application/problem+json');
    }
    // During a key rotation Recurly sends two signatures; either may match.
    const at = Date.now();
    const rotated = `${at},${createHmac('sha256', 'old-key').update(`${at}.${body}`).digest('hex')},${createHmac('sha256', WEBHOOK_SECRET).update(`${at}.${body}`).digest('hex')}`;
    expect(verifyRecurlySignature(rotated, body, WEBHOOK_SECRET, at)).toBe(true);
    expect(verifyRecurlySignature(rotated, `${body} `, WEBHOOK_SECRET, at)).toBe(false);
  });

  it('is chosen in the config alone; a bad field is named', () => {
    const config = billingConfig({
      billing: {
        rail: { type: 'recurly', apiKey: 'k', webhookSecret: 's', subdomain: 'acme', region: 'eu' },
      },
    });
    expect(createRail(config, h.store.db).name).toBe('recurly');
    expect(() =>
      billingConfig({
        billing: { rail: { type: 'recurly', apiKey: 'k', webhookSecret: 's', subdomain: 'Acme Inc' } },
      }),
    ).toThrow(/subdomain/);
  });
});
