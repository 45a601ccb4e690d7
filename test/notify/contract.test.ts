import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTollgate, type Tollgate } from '../../src/app.ts';
import { resolveConfig } from '../../src/config/index.ts';
import { WEBHOOK_EVENT_TYPES } from '../../src/notify/index.ts';

/**
 * The published contract, over real HTTP against a running Tollgate: every event type is in the
 * admin OpenAPI document (3.1 `webhooks`) with its payload schema, every payload Tollgate sends
 * in a subscription and invoice life cycle validates against that schema (ajv, JSON Schema
 * 2020-12), admin suspend/reactivate send their specific events, a change that does nothing sends
 * nothing, and event types are validated where they are named.
 */
const ADMIN_TOKEN = 'admin-token-for-webhook-contract-0123';
let tollgate: Tollgate;
let dataDir: string;
let receiver: Server;
let receiverUrl: string;
const received: { type: string; timestamp: string; data: Record<string, unknown> }[] = [];

beforeAll(async () => {
  receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => {
      body += c;
    });
    req.on('end', () => {
      received.push(JSON.parse(body));
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks`;
  dataDir = mkdtempSync(join(tmpdir(), 'tollgate-webhook-contract-'));
  const config = resolveConfig(
    {
      upstream: 'http://127.0.0.1:1',
      admin: { token: ADMIN_TOKEN },
      billing: { rail: 'invoice' },
      plans: [
        {
          key: 'pro',
          name: 'Pro',
          rateCards: [{ key: 'base', name: 'Pro', price: { type: 'flat', amount: '49.00' } }],
        },
      ],
      notifications: { allowHosts: ['127.0.0.1'] }, // the test's receiver
    },
    'contract.config.ts',
    dataDir,
  );
  tollgate = await startTollgate({ config, database: ':memory:', dataDir, gatewayPort: 0, consolePort: 0 });
}, 180_000);

afterAll(async () => {
  await tollgate?.stop();
  await new Promise((r) => receiver?.close(r));
  rmSync(dataDir, { recursive: true, force: true });
});

async function admin(method: string, path: string, body?: unknown) {
  const response = await fetch(`${tollgate.consoleUrl}/api/admin${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return {
    status: response.status,
    type: response.headers.get('content-type'),
    // biome-ignore lint/suspicious/noExplicitAny: test convenience; assertions check the shape.
    json: (text ? JSON.parse(text) : null) as any,
  };
}

/** Waits until the receiver has `n` events and no more arrive for a moment. */
async function settle(n: number) {
  await expect.poll(() => received.length, { timeout: 90_000 }).toBeGreaterThanOrEqual(n);
  const pending = async () =>
    (await admin('GET', '/webhooks/deliveries?status=pending')).json.data.length as number;
  await expect.poll(pending, { timeout: 90_000 }).toBe(0);
}

describe('the webhook contract', () => {
  it('lists every event type with its schema under the OpenAPI 3.1 webhooks, and the admin routes', async () => {
    const doc = (await admin('GET', '/openapi.json')).json;
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.webhooks).sort()).toEqual([...WEBHOOK_EVENT_TYPES].sort());
    for (const path of [
      '/webhooks/endpoints',
      '/webhooks/endpoints/{id}',
      '/webhooks/endpoints/{id}/rotate-secret',
      '/webhooks/endpoints/{id}/test',
      '/webhooks/endpoints/{id}/replay',
      '/webhooks/deliveries',
      '/webhooks/deliveries/{id}/replay',
    ])
      expect(Object.keys(doc.paths)).toContain(path);
  });

  it('refuses an unknown event type where it is named (invoice.payed → 400 naming the field)', async () => {
    const refused = await admin('POST', '/webhooks/endpoints', {
      url: receiverUrl,
      eventTypes: ['invoice.payed'],
    });
    expect(refused.status).toBe(400);
    expect(refused.type).toBe('application/problem+json');
    expect(refused.json.errors).toEqual([expect.objectContaining({ path: 'eventTypes.0' })]);
    const badSecret = await admin('POST', '/webhooks/endpoints', {
      url: receiverUrl,
      secret: 'whsec_not*base64!',
    });
    expect(badSecret.status).toBe(400);
    expect(badSecret.json.errors).toEqual([expect.objectContaining({ path: 'secret' })]);
  });

  it('sends specific events for suspend and reactivate, nothing for a no-op, each payload valid', async () => {
    const endpoint = await admin('POST', '/webhooks/endpoints', { url: receiverUrl });
    expect(endpoint.status).toBe(201);
    expect(endpoint.json.secret).toMatch(/^whsec_/);
    expect((await admin('GET', `/webhooks/endpoints/${endpoint.json.id}`)).json.secret).toBeUndefined();

    const customer = await admin('POST', '/customers', {
      name: 'Contract Co',
      email: 'billing@contract.test',
    });
    expect(customer.status).toBe(201);
    const sub = await admin('POST', '/subscriptions', { customerId: customer.json.id, plan: 'pro' });
    expect(sub.status).toBe(201);
    await settle(1);
    expect((await admin('POST', `/subscriptions/${sub.json.id}/suspend`)).status).toBe(200);
    await settle(2);
    const before = received.length;
    // Suspending a suspended subscription changes nothing, and says nothing.
    expect((await admin('POST', `/subscriptions/${sub.json.id}/suspend`)).status).toBe(200);
    expect((await admin('POST', `/subscriptions/${sub.json.id}/reactivate`)).status).toBe(200);
    await settle(before + 2);
    const types = received.map((e) => e.type);
    expect(types.filter((t) => t === 'subscription.suspended')).toHaveLength(1);
    expect(types.filter((t) => t === 'subscription.reactivated')).toHaveLength(1);
    expect(types.filter((t) => t === 'subscription.status_changed')).toHaveLength(2);
    expect(types).toContain('subscription.created');
    for (const e of received.filter((r) => r.type.startsWith('subscription.')))
      expect(e.data.subscription).toMatchObject({ id: sub.json.id, customerId: customer.json.id });

    // An invoice issued, paid, then partly refunded.
    const created = await admin('POST', '/invoices', {
      customerId: customer.json.id,
      currency: 'USD',
      lines: [{ description: 'Onboarding', unitPrice: '49.00' }],
      issue: true,
    });
    expect(created.status).toBe(201);
    const invoice = created.json;
    expect((await admin('POST', `/invoices/${invoice.id}/mark-paid`)).status).toBe(200);
    expect((await admin('POST', `/invoices/${invoice.id}/refund`, { amount: '10.00' })).status).toBe(201);
    await expect
      .poll(() => received.map((e) => e.type), { timeout: 90_000 })
      .toEqual(
        expect.arrayContaining(['invoice.issued', 'invoice.paid', 'credit_note.issued', 'invoice.refunded']),
      );
    await settle(0); // and nothing still pending

    // Prometheus: pending and failed deliveries and attempt latency, per endpoint.
    const metrics = await (await fetch(`${tollgate.consoleUrl}/metrics`)).text();
    expect(metrics).toContain('# TYPE tollgate_webhook_deliveries gauge');
    expect(metrics).toMatch(
      new RegExp(
        `tollgate_webhook_delivery_seconds_count\\{endpoint="${endpoint.json.id}",outcome="succeeded"\\} \\d+`,
      ),
    );

    await admin('POST', `/webhooks/endpoints/${endpoint.json.id}/test`);
    await expect.poll(() => received.some((e) => e.type === 'webhook.test'), { timeout: 90_000 }).toBe(true);

    // Every payload against the schema the document publishes for its type.
    const doc = (await admin('GET', '/openapi.json')).json;
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    ajv.addSchema({ $id: 'doc', components: doc.components ?? {} });
    for (const event of received) {
      const schema = doc.webhooks[event.type]?.post?.requestBody?.content?.['application/json']?.schema;
      expect(schema, event.type).toBeDefined();
      const validate = ajv.compile(
        JSON.parse(JSON.stringify(schema).replaceAll('"#/components', '"doc#/components')),
      );
      expect(validate(event), `${event.type}: ${ajv.errorsText(validate.errors)}`).toBe(true);
      expect(Number.isNaN(Date.parse(event.timestamp))).toBe(false);
    }
  }, 400_000);
});
