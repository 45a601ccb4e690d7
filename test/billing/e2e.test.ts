import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DemoUpstream, startDemoUpstream } from '../../examples/quickstart/upstream.ts';
import { startTollgate, type Tollgate } from '../../src/app.ts';
import type { SandboxRail } from '../../src/billing/index.ts';
import { loadConfig } from '../../src/config/index.ts';
import { Decimal, formatMoney } from '../../src/util/money.ts';

/**
 * The quickstart as shipped (examples/quickstart/tollgate.config.ts): one subscription on each
 * plan, real traffic through the gateway, metered usage, then the period's invoice, charged on
 * the sandbox rail with a test card.
 */
let upstream: DemoUpstream;
let tollgate: Tollgate;
let dataDir: string;

beforeAll(async () => {
  upstream = await startDemoUpstream(0);
  process.env.QUICKSTART_UPSTREAM = upstream.url;
  dataDir = mkdtempSync(join(tmpdir(), 'tollgate-billing-e2e-'));
  const config = await loadConfig(
    resolve(import.meta.dirname, '../../examples/quickstart/tollgate.config.ts'),
    { fresh: true },
  );
  tollgate = await startTollgate({ config, database: ':memory:', dataDir, gatewayPort: 0, consolePort: 0 });
}, 180_000);

afterAll(async () => {
  await tollgate?.stop();
  await upstream?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

async function customerOn(planKey: string) {
  const customer = await tollgate.customers.create({
    name: `E2E ${planKey}`,
    email: `${planKey}@example.com`,
  });
  const sub = await tollgate.subscriptions.subscribe({ customerId: customer.id, planKey, trial: false });
  await tollgate.billing.attachCard(customer.id, '4242 4242 4242 4242');
  const { secret } = await tollgate.keys.create({
    customerId: customer.id,
    subscriptionId: sub.id,
    name: 'e2e',
  });
  return { customer, sub, key: secret };
}

async function call(key: string, method: string, path: string, body?: unknown) {
  const res = await request(`${tollgate.gatewayUrl}${path}`, {
    method: method as 'GET' | 'POST',
    headers: { authorization: `Bearer ${key}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.body.text();
  return { status: res.statusCode, json: () => JSON.parse(text) as Record<string, unknown> };
}

async function meteredRequests(customerId: string, from: Date, to: Date): Promise<number> {
  const result = await tollgate.metering.reader.query({
    meterSlug: 'requests',
    from,
    to,
    subject: [customerId],
  });
  return result.data.reduce((acc, r) => acc + r.value, 0);
}

async function waitFor(check: () => Promise<boolean>, ms = 15_000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('timed out waiting for metered usage');
}

describe('a subscription on each quickstart plan produces the right invoice from real gateway usage', () => {
  it('free, pro, growth, ai and enterprise', async () => {
    const plans = ['free', 'pro', 'growth', 'ai', 'enterprise'] as const;
    const subs = Object.fromEntries(
      await Promise.all(plans.map(async (p) => [p, await customerOn(p)] as const)),
    );

    const weatherCalls = { free: 3, pro: 4, growth: 7, ai: 0, enterprise: 2 };
    for (const p of plans) {
      for (let i = 0; i < weatherCalls[p]; i++) {
        const r = await call(subs[p]!.key, 'GET', '/v1/weather?city=Paris');
        expect(r.status).toBe(200);
      }
    }
    let promptTokens = 0;
    let completionTokens = 0;
    for (let i = 0; i < 3; i++) {
      const r = await call(subs.ai!.key, 'POST', '/v1/chat/completions', {
        model: 'tg-small',
        messages: [{ role: 'user', content: `Hello number ${i}, how is the weather in Paris today?` }],
      });
      expect(r.status).toBe(200);
      const usage = r.json().usage as { prompt_tokens: number; completion_tokens: number };
      promptTokens += usage.prompt_tokens;
      completionTokens += usage.completion_tokens;
    }

    // Wait until the usage log has been consumed into the meters.
    for (const p of plans) {
      const sub = subs[p]!.sub;
      await waitFor(
        async () =>
          (await meteredRequests(sub.customerId, sub.currentPeriod.from, sub.currentPeriod.to)) >=
          weatherCalls[p] + (p === 'ai' ? 3 : 0),
      );
    }

    const periodEnd = new Date(Math.max(...plans.map((p) => subs[p]!.sub.currentPeriod.to.getTime())));
    const summary = await tollgate.billing.runBilling({ asOf: periodEnd });
    await (tollgate.billing.rail as SandboxRail).drain();
    expect(summary.invoicesCreated).toBeGreaterThanOrEqual(5);

    const invoiceOf = async (p: (typeof plans)[number]) => {
      const [invoice] = await tollgate.billing.list({ subscriptionId: subs[p]!.sub.id });
      return invoice!;
    };

    const free = await invoiceOf('free');
    expect(free).toMatchObject({ status: 'paid', total: '0.00' });

    const pro = await invoiceOf('pro');
    expect(pro).toMatchObject({ status: 'paid', total: '49.00' });
    expect(pro.lines.map((l) => l.description)).toEqual(['Pro subscription']);

    const growth = await invoiceOf('growth');
    expect(growth).toMatchObject({ status: 'paid', total: '20.00' });
    const growthUsage = growth.lines.find((l) => l.featureKey === 'api_requests');
    expect(growthUsage?.quantity).toBe(String(weatherCalls.growth));
    expect(growthUsage?.tiers?.[0]).toMatchObject({ quantity: String(weatherCalls.growth), unitPrice: '0' });

    const ai = await invoiceOf('ai');
    const input = ai.lines.find((l) => l.rateCardKey === 'small_input');
    const output = ai.lines.find((l) => l.rateCardKey === 'small_output');
    expect(input?.quantity).toBe(String(promptTokens));
    expect(output?.quantity).toBe(String(completionTokens));
    const expected = formatMoney(
      new Decimal(promptTokens)
        .mul('0.0000005')
        .toDecimalPlaces(2, Decimal.ROUND_HALF_UP)
        .add(new Decimal(completionTokens).mul('0.0000015').toDecimalPlaces(2, Decimal.ROUND_HALF_UP)),
      'USD',
    );
    expect(ai.total).toBe(expected);

    const enterprise = await invoiceOf('enterprise');
    expect(enterprise).toMatchObject({ status: 'paid', total: '499.00' });

    // Printable page on the console, admin token required.
    const page = await request(`${tollgate.consoleUrl}/invoices/${pro.id}.html`, {
      headers: { authorization: `Bearer ${tollgate.runtime.adminToken}` },
    });
    expect(page.statusCode).toBe(200);
    expect(await page.body.text()).toContain(pro.number);
    const denied = await request(`${tollgate.consoleUrl}/invoices/${pro.id}.html`);
    expect(denied.statusCode).toBe(401);
    expect(denied.headers['content-type']).toBe('application/problem+json');
    await denied.body.text();

    // Admin API list.
    const list = await request(
      `${tollgate.consoleUrl}/api/admin/invoices?customerId=${subs.pro!.customer.id}`,
      {
        headers: { authorization: `Bearer ${tollgate.runtime.adminToken}` },
      },
    );
    expect(((await list.body.json()) as { data: { number: string }[] }).data[0]?.number).toBe(pro.number);
  }, 180_000);

  it('a credits-only customer at zero gets 402 credits-exhausted from the gateway', async () => {
    const { customer, key } = await customerOn('ai');
    await tollgate.billing.credits.configure({ customerId: customer.id, currency: 'USD', creditsOnly: true });
    const refused = await call(key, 'GET', '/v1/weather?city=Oslo');
    expect(refused.status).toBe(402);
    expect(refused.json().type).toBe('https://tollgate.dev/problems/credits-exhausted');
    await tollgate.billing.credits.grant({ customerId: customer.id, currency: 'USD', amount: '5.00' });
    expect((await call(key, 'GET', '/v1/weather?city=Oslo')).status).toBe(200);
  });
});
