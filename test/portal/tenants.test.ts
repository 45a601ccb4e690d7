import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Stack, startStack } from '../browser/stack.ts';
import { PortalClient } from './client.ts';

/**
 * The portal over the real modules (keys, subscriptions, metering, billing, gateway): tenant
 * isolation by guessed ids, budget alerts (mail + banner) and the hard spend cap the gateway
 * enforces.
 */
let stack: Stack;
let a: PortalClient;
let b: PortalClient;
const CARD = { number: '4242 4242 4242 4242', expiry: '12/30', cvc: '123' };

async function call(key: string): Promise<Response> {
  return fetch(`${stack.gatewayUrl}/v1/weather?city=Oslo`, { headers: { authorization: `Bearer ${key}` } });
}

async function usageTotal(client: PortalClient): Promise<number> {
  const r = await client.get('/api/portal/usage?meter=requests&window=DAY');
  return (r.json.data as { value: number }[]).reduce((sum, row) => sum + row.value, 0);
}

let bKey: string;
let bKeyId: string;
let bSubscriptionId: string;
let bInvoiceId: string;
let aKey: string;

beforeAll(async () => {
  stack = await startStack();
  a = new PortalClient(stack.tollgate.consoleApp, '10.2.0.1');
  b = new PortalClient(stack.tollgate.consoleApp, '10.2.0.2');
  await a.signup('alice@a.test', 'Alice Co');
  await b.signup('bob@b.test', 'Bob Co');
  const ca = await a.post('/api/portal/checkout', { planKey: 'pro', card: CARD });
  expect(ca.status).toBe(201);
  aKey = ca.json.firstKey.secret;
  const cb = await b.post('/api/portal/checkout', { planKey: 'pro', card: CARD });
  expect(cb.status).toBe(201);
  bKey = cb.json.firstKey.secret;
  bKeyId = cb.json.firstKey.key.id;
  bSubscriptionId = cb.json.subscription.id;
  bInvoiceId = cb.json.invoiceId;
  expect(bInvoiceId).toBeTruthy();
}, 180_000);
afterAll(async () => stack?.stop());

describe('tenant isolation over the real modules', () => {
  it("A cannot read or change B's keys, usage, invoices or subscription (404, as for unknown ids)", async () => {
    expect((await call(bKey)).status).toBe(200);
    expect((await call(bKey)).status).toBe(200);
    await expect.poll(() => usageTotal(b), { timeout: 30_000 }).toBe(2);
    expect(await usageTotal(a)).toBe(0);

    // Keys
    expect((await a.get('/api/portal/keys')).json.keys.map((k: { id: string }) => k.id)).not.toContain(
      bKeyId,
    );
    expect((await a.post(`/api/portal/keys/${bKeyId}/roll`)).status).toBe(404);
    expect((await a.delete(`/api/portal/keys/${bKeyId}`)).status).toBe(404);
    expect((await call(bKey)).status).toBe(200);

    // Invoices
    const aInvoices = (await a.get('/api/portal/invoices')).json.invoices as { id: string }[];
    expect(aInvoices.length).toBe(1);
    expect(aInvoices.map((i) => i.id)).not.toContain(bInvoiceId);
    for (const path of [`/api/portal/invoices/${bInvoiceId}`, `/api/portal/invoices/${bInvoiceId}/html`]) {
      const r = await a.get(path);
      expect(r.status, path).toBe(404);
      expect(r.headers.get('content-type')).toBe('application/problem+json');
    }
    expect((await a.post(`/api/portal/invoices/${bInvoiceId}/pay`, { card: CARD })).status).toBe(404);
    expect((await b.get(`/api/portal/invoices/${bInvoiceId}`)).status).toBe(200);
    expect((await b.get(`/api/portal/invoices/${bInvoiceId}/html`)).status).toBe(200);

    // Subscription
    for (const [path, body] of [
      ['/api/portal/subscription/cancel', { subscriptionId: bSubscriptionId }],
      ['/api/portal/subscription/resume', { subscriptionId: bSubscriptionId }],
      ['/api/portal/subscription/change', { subscriptionId: bSubscriptionId, planKey: 'growth' }],
    ] as const) {
      expect((await a.post(path, body)).status, path).toBe(404);
    }
    const bSub = (await b.get('/api/portal/subscription')).json.subscription;
    expect(bSub.plan.key).toBe('pro');
    expect(bSub.cancelAtPeriodEnd).toBe(false);
  });

  it('previews the prorated upgrade, upgrades now and downgrades at period end', async () => {
    const preview = await a.post('/api/portal/subscription/preview', { planKey: 'growth' });
    expect(preview.status).toBe(200);
    expect(preview.json.timing).toBe('immediate');
    expect(preview.json.lines.map((l: { description: string }) => l.description)).toEqual([
      expect.stringMatching(/^Unused time on Pro subscription/),
      expect.stringMatching(/^Remaining time on Growth subscription/),
    ]);
    const up = await a.post('/api/portal/subscription/change', { planKey: 'growth' });
    expect(up.json.timing).toBe('immediate');
    expect(up.json.subscription.plan.key).toBe('growth');
    const down = await a.post('/api/portal/subscription/change', { planKey: 'pro' });
    expect(down.json.timing).toBe('period_end');
    expect(down.json.subscription.pendingChange.planKey).toBe('pro');
    const cancel = await a.post('/api/portal/subscription/cancel', {});
    expect(cancel.json.subscription.cancelAtPeriodEnd).toBe(true);
    const resume = await a.post('/api/portal/subscription/resume', {});
    expect(resume.json.subscription.cancelAtPeriodEnd).toBe(false);
  });
});

describe('budget alerts and the spend cap', () => {
  it('fires a money alert once per period by email and banner', async () => {
    const summary = await b.get('/api/portal/usage/summary');
    expect(summary.json.cost.costToDate).toBe('49.00');
    expect((await b.post('/api/portal/alerts', { kind: 'amount', threshold: '40.00' })).status).toBe(201);
    expect((await b.post('/api/portal/alerts', { kind: 'amount', threshold: '500.00' })).status).toBe(201);
    await stack.tollgate.portal.evaluateBudgets();
    await stack.tollgate.portal.evaluateBudgets();
    const banners = (await b.get('/api/portal/banners')).json.banners as { message: string }[];
    expect(banners).toHaveLength(1);
    expect(banners[0]!.message).toMatch(/reached 49\.00 USD/);
    const mail = (await b.get('/api/portal/dev/mailbox?to=bob@b.test')).json.messages as {
      subject: string;
    }[];
    expect(mail.filter((m) => m.subject === 'Budget alert')).toHaveLength(1);
    expect((await a.get('/api/portal/banners')).json.banners).toEqual([]);
  });

  it('fires a quota alert at a percentage of the included usage', async () => {
    // B's three calls are metered within a second. Wait for them before the alert exists, so the
    // background evaluation cannot fire it earlier at a lower percentage.
    await expect.poll(() => usageTotal(b), { timeout: 30_000 }).toBeGreaterThanOrEqual(3);
    expect((await b.post('/api/portal/alerts', { kind: 'quota_percent', threshold: '40' })).status).toBe(201);
    await stack.tollgate.portal.evaluateBudgets();
    const banners = (await b.get('/api/portal/banners')).json.banners as { message: string }[];
    expect(banners.some((x) => /API requests usage reached 60% of the 5 included/.test(x.message))).toBe(
      true,
    );
  });

  it('enforces a hard spend cap at the gateway (402) until it is raised', async () => {
    expect((await call(aKey)).status).toBe(200);
    const set = await a.put('/api/portal/spend-cap', { amount: '10.00' });
    expect(set.status).toBe(200);
    const capped = await call(aKey);
    expect(capped.status).toBe(402);
    expect(capped.headers.get('content-type')).toBe('application/problem+json');
    expect(((await capped.json()) as { type: string }).type).toBe(
      'https://tollgate.dev/problems/spend-cap-reached',
    );
    expect((await call(bKey)).status).toBe(200); // other tenants are not affected
    expect((await a.get('/api/portal/banners')).json.banners[0].id).toBe('spend-cap');
    await a.put('/api/portal/spend-cap', { amount: null });
    expect((await call(aKey)).status).toBe(200);
  });
});

describe('free plans and open invoices', () => {
  it('subscribes to a free plan without a card, then pays an open invoice (declined, then paid)', async () => {
    const c = new PortalClient(stack.tollgate.consoleApp, '10.2.0.3');
    const user = await c.signup('carol@c.test', 'Carol Co');
    const free = await c.post('/api/portal/checkout', { planKey: 'free' });
    expect(free.status).toBe(201);
    expect(free.json.subscription.plan.key).toBe('free');
    expect(free.json.firstKey.secret).toMatch(/^tg_/);

    // An invoice the operator issued by hand: no card on file, so it stays open.
    const manual = await stack.tollgate.billing.createManualInvoice({
      customerId: user.customerId,
      currency: 'USD',
      lines: [{ description: 'Onboarding workshop', unitPrice: '150.00' }],
      issue: true,
    });
    const listed = (await c.get('/api/portal/invoices')).json.invoices as { id: string; status: string }[];
    expect(listed.find((i) => i.id === manual.id)?.status).toBe('open');
    expect((await a.post(`/api/portal/invoices/${manual.id}/pay`, { card: CARD })).status).toBe(404);

    const declined = await c.post(`/api/portal/invoices/${manual.id}/pay`, {
      card: { number: '4000 0000 0000 0002', expiry: '12/30', cvc: '123' },
    });
    expect(declined.status).toBe(402);
    expect(declined.json.type).toBe('https://tollgate.dev/problems/card-declined');
    const paid = await c.post(`/api/portal/invoices/${manual.id}/pay`, { card: CARD });
    expect(paid.status).toBe(200);
    await expect
      .poll(async () => (await c.get(`/api/portal/invoices/${manual.id}`)).json.invoice.status, {
        timeout: 30_000,
      })
      .toBe('paid');
    expect((await c.post(`/api/portal/invoices/${manual.id}/pay`, { card: CARD })).status).toBe(409);
  });

  it('posts budget alerts to the webhook URL of the alert', async () => {
    const received: unknown[] = [];
    const deliveries: { body: string; headers: Record<string, string> }[] = [];
    const hook = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk) => {
        body += chunk;
      });
      req.on('end', () => {
        received.push(JSON.parse(body));
        deliveries.push({ body, headers: req.headers as Record<string, string> });
        res.end('ok');
      });
    });
    await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/budget`;
    try {
      const created = await a.post('/api/portal/alerts', {
        kind: 'amount',
        threshold: '1.00',
        email: false,
        webhookUrl: url,
      });
      expect(created.status).toBe(201);
      await stack.tollgate.portal.evaluateBudgets();
      await expect.poll(() => received.length, { timeout: 30_000 }).toBe(1);
      expect(received[0]).toMatchObject({
        type: 'budget.alert',
        data: { alertId: created.json.id, kind: 'amount' },
      });
      // Signed the Standard Webhooks way with the secret shown at creation.
      expect(created.json.webhookSecret).toMatch(/^whsec_/);
      const delivery = deliveries[0]!;
      const verified = new Webhook(created.json.webhookSecret).verify(delivery.body, delivery.headers);
      expect(verified).toMatchObject({ type: 'budget.alert' });
    } finally {
      await new Promise((r) => hook.close(r));
    }
  });
});
