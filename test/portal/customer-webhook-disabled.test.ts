import { mkdirSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensurePortalBuilt, launchChromium, type Stack, startStack } from '../browser/stack.ts';
import { PortalClient } from './client.ts';

/**
 * A customer's alert webhook that answers 410 Gone is disabled by the notify module. The portal
 * says so (reason and time, in the API and on the Budget page) and lets the customer turn it back
 * on, as Svix's and Stripe's dashboards let an endpoint's owner do; no other organisation can.
 */
const SHOTS = join(process.cwd(), 'test-results', 'screenshots');
const CARD = { number: '4242 4242 4242 4242', expiry: '12/30', cvc: '123' };
const PASSWORD = 'Quartz-Lantern-Harbour-7319';

let stack: Stack;
let receiver: Server;
let receiverUrl: string;
let answer = 410;
const received: { type: string }[] = [];

beforeAll(async () => {
  receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => {
      body += c;
    });
    req.on('end', () => {
      received.push({ type: JSON.parse(body).type });
      res.writeHead(answer).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/gone`;
  ensurePortalBuilt();
  stack = await startStack(); // notifications.allowHosts: ['127.0.0.1']
}, 180_000);

afterAll(async () => {
  await stack?.stop();
  await new Promise((r) => receiver?.close(r));
});

describe("a customer's webhook endpoint disabled after 410 Gone", () => {
  it('is shown as disabled with its reason and time, and its owner can enable it again', async () => {
    const owner = new PortalClient(stack.tollgate.consoleApp, '10.9.1.1');
    await owner.signup('erin@e.test', 'Erin Co', PASSWORD);
    expect((await owner.post('/api/portal/checkout', { planKey: 'pro', card: CARD })).status).toBe(201);
    // Spend is 49.00 already: the alert fires while it is being created, and its webhook answers 410.
    const created = await owner.post('/api/portal/alerts', {
      kind: 'amount',
      threshold: '1.00',
      email: false,
      webhookUrl: receiverUrl,
    });
    expect(created.status).toBe(201);

    const endpoints = async () => (await owner.get('/api/portal/webhook-endpoints')).json.endpoints;
    await expect.poll(async () => (await endpoints())[0]?.enabled, { timeout: 90_000 }).toBe(false);
    const [endpoint] = await endpoints();
    expect(endpoint).toMatchObject({ url: receiverUrl, enabled: false });
    expect(endpoint.disabledReason).toMatch(/410/);
    expect(Date.parse(endpoint.disabledAt)).toBeGreaterThan(Date.now() - 120_000);
    expect(received).toEqual([{ type: 'budget.alert' }]);

    // Another organisation can neither see nor enable it (404, as for an unknown id).
    const other = new PortalClient(stack.tollgate.consoleApp, '10.9.1.2');
    await other.signup('finn@f.test', 'Finn Co', PASSWORD);
    expect((await other.get('/api/portal/webhook-endpoints')).json.endpoints).toEqual([]);
    const refused = await other.post(`/api/portal/webhook-endpoints/${endpoint.id}/enable`);
    expect(refused.status).toBe(404);
    expect(refused.headers.get('content-type')).toMatch(/problem\+json/);
    expect((await endpoints())[0].enabled).toBe(false);

    // In the browser: the Budget page shows the disabled state; "Enable again" turns it back on.
    answer = 204;
    const browser = await launchChromium();
    try {
      const { page } = browser;
      await page.goto(`${stack.consoleUrl}/login?next=%2Fbudget`);
      await page.getByLabel('Email').fill('erin@e.test');
      await page.getByLabel('Password').fill(PASSWORD);
      await page.getByRole('button', { name: 'Log in' }).click();
      await page.waitForURL('**/budget');
      const notice = page.getByTestId('endpoint-disabled');
      await notice.waitFor();
      expect(await notice.textContent()).toMatch(/410/);
      await page.getByRole('heading', { name: 'Webhook deliveries' }).waitFor();
      mkdirSync(SHOTS, { recursive: true });
      for (const width of [1280, 390]) {
        await page.setViewportSize({ width, height: 860 });
        await page.screenshot({ path: join(SHOTS, `webhook-disabled-${width}.png`), fullPage: true });
      }
      await page.setViewportSize({ width: 1280, height: 860 });
      await page.getByRole('button', { name: 'Enable again' }).click();
      await page.getByText(`Webhook ${receiverUrl} enabled again.`).waitFor();
      await expect.poll(() => notice.count(), { timeout: 60_000 }).toBe(0);
      await page.screenshot({ path: join(SHOTS, 'webhook-enabled-again-1280.png'), fullPage: true });
    } finally {
      await browser.close();
    }
    expect((await endpoints())[0]).toMatchObject({ enabled: true, disabledReason: null, disabledAt: null });

    // Enabled again, it receives events.
    await stack.tollgate.webhooks.sendTest(endpoint.id);
    await expect
      .poll(() => received.map((r) => r.type), { timeout: 60_000 })
      .toEqual(['budget.alert', 'webhook.test']);
  }, 300_000);
});
