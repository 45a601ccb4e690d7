import { resolve } from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DemoUpstream, startDemoUpstream } from '../../examples/quickstart/upstream.ts';
import { startTollgate, type Tollgate } from '../../src/app.ts';
import { loadConfig } from '../../src/config/index.ts';
import type { MeterReader } from '../../src/metering/query.ts';
import { createLogger } from '../../src/util/log.ts';
import { tempDataDir } from '../support/tollgate.ts';

/**
 * The quickstart's own config and demo upstream, end to end. Free allows 100 req/min, so the
 * 1,001st request of the month is reached by seeding the quota with 999 metered requests (as a
 * restarted gateway would), then calling twice.
 */
let upstream: DemoUpstream;
let tollgate: Tollgate;
const metered = new Map<string, number>();
const reader: MeterReader = {
  async query(params) {
    // The seed asks for the customer's usage (all its subject keys), not one subject.
    const value = metered.get(params.customer ?? params.subject?.[0] ?? '') ?? 0;
    return { data: [{ value, windowStart: '', windowEnd: '', subject: null, groupBy: {} }] };
  },
};

beforeAll(async () => {
  upstream = await startDemoUpstream(0);
  process.env.QUICKSTART_UPSTREAM = upstream.url;
  const config = await loadConfig(
    resolve(import.meta.dirname, '../../examples/quickstart/tollgate.config.ts'),
    {
      fresh: true,
    },
  );
  tollgate = await startTollgate({
    config,
    database: ':memory:',
    dataDir: tempDataDir('e2e-quickstart'),
    gatewayPort: 0,
    consolePort: 0,
    log: createLogger({ level: 'silent' }),
  });
  tollgate.access.setMeterReader(reader);
});

afterAll(async () => {
  await tollgate?.stop();
  await upstream?.close();
});

async function customerOn(plan: string, usedThisMonth = 0) {
  const customer = await tollgate.customers.create({ name: `Quickstart ${plan}` });
  const subscription = await tollgate.subscriptions.subscribe({ customerId: customer.id, planKey: plan });
  const key = await tollgate.keys.create({ customerId: customer.id, subscriptionId: subscription.id });
  metered.set(customer.id, usedThisMonth);
  return { customer, subscription, secret: key.secret };
}

async function call(secret: string, path = '/v1/weather?city=Paris', body?: unknown) {
  const res = await request(`${tollgate.gatewayUrl}${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.body.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // streamed or empty bodies are not needed here
  }
  return { status: res.statusCode, headers: res.headers, body: json };
}

const chat = { model: 'tg-small', messages: [{ role: 'user', content: 'hello' }] };

describe('quickstart plans through the gateway', () => {
  it('Free: request 1,001 of 1,000 gets 429 with the limit, the reset time and the upgrade link', async () => {
    const { secret } = await customerOn('free', 999);
    const last = await call(secret);
    expect(last.status).toBe(200);
    expect(last.headers['x-quota-remaining']).toBe('0');
    const over = await call(secret);
    expect(over.status).toBe(429);
    expect(over.headers['content-type']).toBe('application/problem+json');
    expect(over.body).toMatchObject({
      limit: 1000,
      upgradeUrl: `${tollgate.consoleUrl}/portal/subscription`,
    });
    expect(new Date(String(over.body.reset)).getTime()).toBeGreaterThan(Date.now() + 27 * 86_400_000);
  });

  it('Free has no chat (403); Pro has it; upgrading Free → Pro lifts both at once', async () => {
    const free = await customerOn('free', 1000);
    expect((await call(free.secret, '/v1/chat/completions', chat)).status).toBe(403);
    expect((await call(free.secret)).status).toBe(429);
    await tollgate.subscriptions.upgrade(free.subscription.id, 'pro');
    expect((await call(free.secret)).status).toBe(200);
    expect((await call(free.secret, '/v1/chat/completions', chat)).status).toBe(200);
  });

  it('Growth: past its 10,000 included calls, calls go on (billed as overage)', async () => {
    const { secret } = await customerOn('growth', 10_500);
    const res = await call(secret);
    expect(res.status).toBe(200);
  });

  it('AI: a 14-day trial with chat on both models', async () => {
    const { subscription, secret } = await customerOn('ai');
    expect(subscription.status).toBe('trialing');
    expect((await call(secret, '/v1/chat/completions', { ...chat, model: 'tg-large' })).status).toBe(200);
  });

  it('Pro chats with tg-small but not tg-large (403 model-not-in-plan); AI uses both', async () => {
    const pro = await customerOn('pro');
    expect((await call(pro.secret, '/v1/chat/completions', chat)).status).toBe(200);
    const large = await call(pro.secret, '/v1/chat/completions', { ...chat, model: 'tg-large' });
    expect(large.status).toBe(403);
    expect(large.headers['content-type']).toBe('application/problem+json');
    expect(large.body).toMatchObject({
      type: 'https://tollgate.dev/problems/model-not-in-plan',
      model: 'tg-large',
      feature: 'large_model',
    });
    const ai = await customerOn('ai');
    const answer = await call(ai.secret, '/v1/chat/completions', { ...chat, model: 'tg-large' });
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ model: 'tg-large' });
  });

  it('a customer without a subscription may not call feature routes', async () => {
    const customer = await tollgate.customers.create({ name: 'No plan' });
    const key = await tollgate.keys.create({ customerId: customer.id });
    const res = await call(key.secret);
    expect(res.status).toBe(403);
    expect(String(res.body.detail)).toMatch(/needs a subscription/);
  });

  it('Enterprise: contract limits apply to existing keys at once', async () => {
    const { subscription, secret } = await customerOn('enterprise', 0);
    expect((await call(secret)).status).toBe(200);
    await tollgate.subscriptions.setOverrides(subscription.id, {
      rateCards: { requests: { limit: 1, softLimit: false } },
    });
    // The override starts a counter for the new hard limit from the metered usage (0 here): one call, then 429.
    const results = [await call(secret), await call(secret)];
    expect(results.map((r) => r.status)).toEqual([200, 429]);
  });

  it('cancel revokes the keys at once', async () => {
    const { subscription, secret } = await customerOn('pro');
    expect((await call(secret)).status).toBe(200);
    await tollgate.subscriptions.cancel(subscription.id, { timing: 'now' });
    const res = await call(secret);
    expect(res.status).toBe(403);
    expect(res.body.type).toBe('https://tollgate.dev/problems/subscription-canceled');
  });
});
