import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tollgate } from '../../src/app.ts';
import { resolveConfig } from '../../src/config/index.ts';
import { requestsCard, testFeatures, testMeters, testPlans } from '../support/catalog.ts';
import { startTestTollgate } from '../support/tollgate.ts';
import { get, startServer } from './harness.ts';

/**
 * `gateway.defaultFeature`: `tollgate init` sells every operation of the OpenAPI document as
 * `api_requests`, but an operation added to the document later carries no `x-tollgate`. With the
 * setting it needs a plan and is refused at the plan's quota like the others; without it, it is
 * open to every valid key and keeps answering after the quota is used up (the request meter
 * still counts its calls: `addTokenQuotas` in src/gateway/usage-events.ts).
 */
const dir = mkdtempSync(join(tmpdir(), 'tollgate-default-feature-'));
const openapi = join(dir, 'openapi.json');
writeFileSync(
  openapi,
  JSON.stringify({
    openapi: '3.1.0',
    paths: {
      '/v1/items': { get: { 'x-tollgate': { feature: 'api_requests' } } },
      '/v1/added': { get: { summary: 'added to the document after init' } },
      '/v1/health': { get: { 'x-tollgate': { public: true } } },
    },
  }),
);

let upstream: Awaited<ReturnType<typeof startServer>>;
let gated: Tollgate;
let open: Tollgate;

function configWith(gateway: { defaultFeature?: string }) {
  return resolveConfig(
    {
      upstream: upstream.url,
      openapi,
      gateway,
      meters: [testMeters.requests],
      features: [testFeatures.api_requests],
      plans: [{ ...testPlans.free, rateCards: [requestsCard(5)] }],
    },
    'default-feature.config.ts',
    dir,
  );
}

beforeAll(async () => {
  upstream = await startServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ path: req.url }));
  });
  [gated, open] = await Promise.all([
    startTestTollgate(configWith({ defaultFeature: 'api_requests' }), 'default-feature-on'),
    startTestTollgate(configWith({}), 'default-feature-off'),
  ]);
}, 180_000);

afterAll(async () => {
  await gated?.stop();
  await open?.stop();
  await upstream?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A key of a new customer: on the Free plan, or without any plan. */
async function keyOf(tollgate: Tollgate, plan: 'free' | null): Promise<string> {
  const customer = await tollgate.customers.create({ name: `Customer on ${plan ?? 'no plan'}` });
  if (plan === null) return (await tollgate.keys.create({ customerId: customer.id })).secret;
  const subscription = await tollgate.subscriptions.subscribe({ customerId: customer.id, planKey: plan });
  return (await tollgate.keys.create({ customerId: customer.id, subscriptionId: subscription.id })).secret;
}

describe('gateway.defaultFeature', () => {
  it('refuses an operation without x-tollgate to a key whose customer has no plan', async () => {
    const planless = await keyOf(gated, null);
    const refused = await get(`${gated.gatewayUrl}/v1/added`, planless);
    expect(refused.status).toBe(403);
    expect(refused.headers['content-type']).toBe('application/problem+json');
    expect(refused.json()).toMatchObject({ feature: 'api_requests' });
    // The public operation stays public: no key needed.
    expect((await get(`${gated.gatewayUrl}/v1/health`)).status).toBe(200);
  });

  it("counts it against the Free plan's api_requests quota, shared with the other operations", async () => {
    const free = await keyOf(gated, 'free');
    const added = await get(`${gated.gatewayUrl}/v1/added`, free);
    expect(added.status).toBe(200);
    expect(added.json()).toEqual({ path: '/v1/added' });
    expect([added.headers['x-quota-limit'], added.headers['x-quota-remaining']]).toEqual(['5', '4']);
    const items = await get(`${gated.gatewayUrl}/v1/items`, free);
    expect(items.headers['x-quota-remaining']).toBe('3');
    for (let i = 0; i < 3; i++) expect((await get(`${gated.gatewayUrl}/v1/added`, free)).status).toBe(200);
    const over = await get(`${gated.gatewayUrl}/v1/added`, free);
    expect(over.status).toBe(429);
    expect(over.json()).toMatchObject({ feature: 'api_requests', limit: 5 });
  });

  it('unset, the operation is open to a planless key and answers past the quota, as before', async () => {
    const planless = await keyOf(open, null);
    const added = await get(`${open.gatewayUrl}/v1/added`, planless);
    expect(added.status).toBe(200);
    expect(added.headers['x-quota-limit']).toBeUndefined();
    // The operation that names its feature is still refused to that key.
    expect((await get(`${open.gatewayUrl}/v1/items`, planless)).status).toBe(403);
    // A Free key: the request meter counts the call after the fact, but the route checks no quota.
    const free = await keyOf(open, 'free');
    expect((await get(`${open.gatewayUrl}/v1/added`, free)).headers['x-quota-limit']).toBeUndefined();
    const statuses: number[] = [];
    while (statuses.at(-1) !== 429 && statuses.length < 6) {
      statuses.push((await get(`${open.gatewayUrl}/v1/items`, free)).status);
    }
    expect(statuses.at(-1)).toBe(429); // the quota of 5 is used up …
    expect((await get(`${open.gatewayUrl}/v1/added`, free)).status).toBe(200); // … and this still answers
  });
});
