import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Webhook } from 'standardwebhooks';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DemoUpstream, startDemoUpstream } from '../../examples/quickstart/upstream.ts';
import { startTollgate, type Tollgate } from '../../src/app.ts';
import { resolveConfig } from '../../src/config/index.ts';

/**
 * `usage.threshold` webhooks from real gateway traffic: a plan with 10 included requests, calls
 * through the gateway, metered by the usage log consumer, checked by the threshold job; every
 * delivery verified with the `standardwebhooks` library.
 */
let upstream: DemoUpstream;
let tollgate: Tollgate;
let receiver: Server;
let receiverUrl: string;
let dataDir: string;
const received: { headers: IncomingHttpHeaders; body: string }[] = [];

beforeAll(async () => {
  upstream = await startDemoUpstream(0);
  receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => {
      body += c;
    });
    req.on('end', () => {
      received.push({ headers: req.headers, body });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks`;
  dataDir = mkdtempSync(join(tmpdir(), 'tollgate-usage-threshold-'));
  const config = resolveConfig(
    {
      upstream: upstream.url,
      routes: [{ method: 'GET', path: '/v1/weather', feature: 'api_requests' }],
      meters: [{ slug: 'requests', eventType: 'request', aggregation: 'COUNT' }],
      features: [{ key: 'api_requests', name: 'API requests', meter: 'requests' }],
      plans: [
        {
          key: 'starter',
          name: 'Starter',
          rateCards: [
            { key: 'requests', feature: 'api_requests', entitlement: { type: 'metered', limit: 10 } },
          ],
        },
      ],
      notifications: { allowHosts: ['127.0.0.1'] }, // the test's receiver
    },
    'usage-threshold.config.ts',
    dataDir,
  );
  expect(config.notifications.usageThresholds).toEqual([80, 100]); // the default
  tollgate = await startTollgate({ config, database: ':memory:', dataDir, gatewayPort: 0, consolePort: 0 });
}, 180_000);

afterAll(async () => {
  await tollgate?.stop();
  await upstream?.close();
  await new Promise((r) => receiver?.close(r));
  rmSync(dataDir, { recursive: true, force: true });
});

async function waitFor(check: () => Promise<boolean>, what: string, ms = 15_000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('usage.threshold webhooks', () => {
  it('sends exactly one signed event per threshold as real traffic passes 80 % and then 100 %', async () => {
    const endpoint = await tollgate.webhooks.createEndpoint({ url: receiverUrl, eventTypes: ['usage.*'] });
    const customer = await tollgate.customers.create({ name: 'Thresholds', email: 't@example.com' });
    const sub = await tollgate.subscriptions.subscribe({ customerId: customer.id, planKey: 'starter' });
    const { secret: key } = await tollgate.keys.create({ customerId: customer.id, subscriptionId: sub.id });

    const call = async () => {
      const res = await request(`${tollgate.gatewayUrl}/v1/weather?city=Paris`, {
        headers: { authorization: `Bearer ${key}` },
      });
      await res.body.text();
      return res.statusCode;
    };
    const metered = async () => {
      const result = await tollgate.metering.reader.query({
        meterSlug: 'requests',
        from: sub.currentPeriod.from,
        to: new Date(Date.now() + 60_000),
        subject: [customer.id],
      });
      return result.data.reduce((sum, row) => sum + row.value, 0);
    };
    const thresholdEvents = async () => {
      await tollgate.webhooks.deliverDue();
      return received.map((r) => {
        const verified = new Webhook(endpoint.secret).verify(r.body, {
          'webhook-id': String(r.headers['webhook-id']),
          'webhook-timestamp': String(r.headers['webhook-timestamp']),
          'webhook-signature': String(r.headers['webhook-signature']),
        }) as { type: string; data: Record<string, unknown> };
        return { id: String(r.headers['webhook-id']), ...verified };
      });
    };

    // 7 of 10: below every threshold.
    for (let i = 0; i < 7; i++) expect(await call()).toBe(200);
    await waitFor(async () => (await metered()) === 7, '7 metered requests');
    await tollgate.usageThresholds.evaluateAll();
    expect(await thresholdEvents()).toEqual([]);

    // The 8th call reaches 80 %.
    expect(await call()).toBe(200);
    await waitFor(async () => (await metered()) === 8, '8 metered requests');
    // Two checks at once and one after (another worker, a restart): still one event.
    await Promise.all([tollgate.usageThresholds.evaluateAll(), tollgate.usageThresholds.evaluateAll()]);
    await tollgate.usageThresholds.evaluateAll();
    await waitFor(async () => (await thresholdEvents()).length >= 1, 'the 80 % webhook');
    let events = await thresholdEvents();
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      type: 'usage.threshold',
      data: {
        customerId: customer.id,
        subscriptionId: sub.id,
        feature: 'api_requests',
        meter: 'requests',
        threshold: 80,
        usage: 8,
        limit: 10,
        period: { from: sub.currentPeriod.from.toISOString(), to: sub.currentPeriod.to.toISOString() },
      },
    });

    // Two more reach the limit (100 %); the next is refused by the hard quota.
    expect(await call()).toBe(200);
    expect(await call()).toBe(200);
    expect(await call()).toBe(429);
    await waitFor(async () => (await metered()) === 10, '10 metered requests');
    await tollgate.usageThresholds.evaluateAll();
    await tollgate.usageThresholds.evaluateAll();
    await waitFor(async () => (await thresholdEvents()).length >= 2, 'the 100 % webhook');
    events = await thresholdEvents();
    expect(events.map((e) => e.data.threshold)).toEqual([80, 100]);
    expect(events[1]?.data).toMatchObject({ threshold: 100, usage: 10, limit: 10 });
    expect(new Set(events.map((e) => e.id)).size).toBe(2);

    // The admin API lists the type; the delivery log lists the events as delivered.
    const types = await tollgate.consoleApp.request('/api/admin/webhooks/event-types', {
      headers: { authorization: `Bearer ${tollgate.runtime.adminToken}` },
    });
    expect(((await types.json()) as { data: { type: string }[] }).data.map((t) => t.type)).toContain(
      'usage.threshold',
    );
    const log = await tollgate.webhooks.deliveries({ endpointId: endpoint.id });
    expect(log.map((d) => [d.type, d.status])).toEqual([
      ['usage.threshold', 'succeeded'],
      ['usage.threshold', 'succeeded'],
    ]);
  });

  it('refuses thresholds that are not strictly increasing whole percentages, naming the field', () => {
    const base = { upstream: 'http://127.0.0.1:1' };
    expect(() =>
      resolveConfig({ ...base, notifications: { usageThresholds: [90, 50] } }, 't.ts', dataDir),
    ).toThrow(/notifications\.usageThresholds\[1\]: thresholds must be strictly increasing/);
    expect(() =>
      resolveConfig({ ...base, notifications: { usageThresholds: [0] } }, 't.ts', dataDir),
    ).toThrow(/notifications\.usageThresholds\[0\]: must be more than 0/);
  });
});
