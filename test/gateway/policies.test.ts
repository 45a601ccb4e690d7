import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DemoUpstream, startDemoUpstream } from '../../examples/quickstart/upstream.ts';
import { ProblemError } from '../../src/http/problem.ts';
import type { AccessResolver, AccessView } from '../../src/subscriptions/access.ts';
import { closeShared, get, openShared, type Shared, startGateway } from './harness.ts';

let shared: Shared;
let demo: DemoUpstream;

beforeAll(async () => {
  shared = await openShared();
  demo = await startDemoUpstream(0);
});
afterAll(async () => {
  await demo.close();
  await closeShared(shared);
});

const period = { from: new Date('2026-01-01T00:00:00Z'), to: new Date('2099-01-01T00:00:00Z') };

/** A stand-in for the subscriptions module: plan = the customer id's prefix ("pro_…", "free_…"). */
function planResolver(overrides: (customerId: string) => Partial<AccessView> = () => ({})): AccessResolver {
  return {
    resolve(customerId, subscriptionId) {
      const plan = customerId.split('_')[0] as string;
      return {
        customer: { id: customerId, name: customerId, metadata: {} },
        subscription: {
          id: subscriptionId ?? `sub_${customerId}`,
          status: 'active',
          plan: { key: plan, version: 1, name: plan },
          phase: 'default',
          currentPeriod: period,
        },
        entitlements: { api_requests: { featureKey: 'api_requests', type: 'metered', hasAccess: true } },
        rateLimit: null,
        quotas: {},
        blocked: null,
        upgradeUrl: 'http://portal.test/pricing',
        ...overrides(customerId),
      };
    },
  };
}

describe('authentication', () => {
  it('refuses missing, mistyped, unknown and revoked keys with 401 problem+json; revoked within 1 s', async () => {
    const gw = await startGateway(shared, { upstream: demo.url, openapi: './openapi.yaml' });
    try {
      const { key, secret } = await shared.keys.create({ customerId: 'cus_auth' });
      const missing = await get(`${gw.url}/v1/weather?city=Oslo`);
      expect(missing.status).toBe(401);
      expect(missing.headers['content-type']).toBe('application/problem+json');
      expect(missing.headers['www-authenticate']).toBe('Bearer');
      // A typo in the last character (always a different one) is refused.
      const typo = `${secret.slice(0, -1)}${secret.endsWith('X') ? 'Y' : 'X'}`;
      expect((await get(`${gw.url}/v1/weather?city=Oslo`, typo)).status).toBe(401);
      expect((await get(`${gw.url}/v1/weather?city=Oslo`, 'tg_live_unknown')).status).toBe(401);
      const ok = await get(`${gw.url}/v1/weather?city=Oslo`, secret);
      expect(ok.status).toBe(200);
      expect(ok.json()).toMatchObject({ city: 'Oslo' });
      const viaHeader = await get(`${gw.url}/v1/weather?city=Oslo`, undefined, { 'x-api-key': secret });
      expect(viaHeader.status).toBe(200);

      await shared.keys.revoke(key.id);
      const revokedAt = Date.now();
      let status = 200;
      while (status === 200 && Date.now() - revokedAt < 1000) {
        status = (await get(`${gw.url}/v1/weather?city=Oslo`, secret)).status;
      }
      expect(status).toBe(401);
      expect(Date.now() - revokedAt).toBeLessThan(1000);
    } finally {
      await gw.close();
    }
  });
});

describe('rate limits', () => {
  it('a burst gets 429 with Retry-After and IETF RateLimit headers on every response', async () => {
    const gw = await startGateway(shared, {
      upstream: demo.url,
      openapi: './openapi.yaml',
      rateLimit: { by: 'customer', default: { limit: 5, window: '1m' } },
    });
    try {
      const { secret } = await shared.keys.create({ customerId: 'cus_burst' });
      const statuses: number[] = [];
      let last: Awaited<ReturnType<typeof get>> | null = null;
      for (let i = 0; i < 5; i++) {
        last = await get(`${gw.url}/v1/items/${i}`, secret);
        statuses.push(last.status);
        expect(last.headers['ratelimit-policy']).toBe('"default";q=5;w=60');
        expect(last.headers.ratelimit).toBe(`"default";r=${4 - i};t=${12 * (i + 1)}`);
      }
      expect(statuses).toEqual([200, 200, 200, 200, 200]);
      const refused = await get(`${gw.url}/v1/items/x`, secret);
      expect(refused.status).toBe(429);
      expect(refused.headers['content-type']).toBe('application/problem+json');
      expect(refused.headers['retry-after']).toBe('12');
      expect(refused.headers['ratelimit-policy']).toBe('"default";q=5;w=60');
      expect(refused.headers.ratelimit).toBe('"default";r=0;t=60');
      expect(refused.json()).toMatchObject({
        status: 429,
        type: 'https://tollgate.dev/problems/rate-limited',
        limit: 5,
      });
      // another customer has its own budget
      const other = (await shared.keys.create({ customerId: 'cus_burst2' })).secret;
      expect((await get(`${gw.url}/v1/items/1`, other)).status).toBe(200);
    } finally {
      await gw.close();
    }
  });

  it("the seed article's dynamic per-plan rate limit function works", async () => {
    const gw = await startGateway(
      shared,
      {
        upstream: demo.url,
        openapi: './openapi.yaml',
        rateLimit: (ctx) => ({
          key: ctx.customer?.id ?? ctx.request.ip,
          limit: ctx.subscription?.plan.key === 'pro' ? 3 : 1,
          window: '1m',
        }),
      },
      { access: planResolver() },
    );
    try {
      const pro = (await shared.keys.create({ customerId: 'pro_1' })).secret;
      const free = (await shared.keys.create({ customerId: 'free_1' })).secret;
      const proStatuses = [];
      for (let i = 0; i < 4; i++) proStatuses.push((await get(`${gw.url}/v1/items/1`, pro)).status);
      const freeStatuses = [];
      for (let i = 0; i < 2; i++) freeStatuses.push((await get(`${gw.url}/v1/items/1`, free)).status);
      expect(proStatuses).toEqual([200, 200, 200, 429]);
      expect(freeStatuses).toEqual([200, 429]);
    } finally {
      await gw.close();
    }
  });
});

describe('access', () => {
  it('403 when the plan lacks the route feature; the blocked problem when suspended', async () => {
    const gw = await startGateway(
      shared,
      { upstream: demo.url, openapi: './openapi.yaml' },
      {
        access: planResolver((customerId) =>
          customerId.startsWith('late_')
            ? {
                blocked: new ProblemError({
                  status: 402,
                  type: 'payment-required',
                  title: 'Payment required',
                  detail: 'Subscription suspended for non-payment.',
                }),
              }
            : {},
        ),
      },
    );
    try {
      const free = (await shared.keys.create({ customerId: 'free_2' })).secret;
      const chat = await request(`${gw.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${free}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'tg-small', messages: [{ role: 'user', content: 'hi' }] }),
      });
      expect(chat.statusCode).toBe(403);
      expect(await chat.body.json()).toMatchObject({
        feature: 'chat',
        upgradeUrl: 'http://portal.test/pricing',
      });
      expect((await get(`${gw.url}/v1/items/1`, free)).status).toBe(200);
      const late = (await shared.keys.create({ customerId: 'late_1' })).secret;
      const blocked = await get(`${gw.url}/v1/items/1`, late);
      expect(blocked.status).toBe(402);
      expect(blocked.headers['content-type']).toBe('application/problem+json');
    } finally {
      await gw.close();
    }
  });
});

describe('policies', () => {
  it('an inbound policy can answer instead of the upstream; outbound policies set headers', async () => {
    const gw = await startGateway(shared, {
      upstream: demo.url,
      openapi: './openapi.yaml',
      policies: {
        inbound: [
          (ctx) =>
            ctx.request.query.get('city') === 'Atlantis'
              ? new Response(JSON.stringify({ error: 'no such city' }), {
                  status: 418,
                  headers: { 'content-type': 'application/json' },
                })
              : undefined,
        ],
        outbound: [
          (ctx, response) => {
            response.setHeader('x-served-for', ctx.customer?.id ?? 'anonymous');
            response.setHeader('x-upstream-status', String(response.status));
          },
        ],
      },
      routes: [
        {
          method: 'GET',
          path: '/v1/items/{id}',
          policies: {
            inbound: [
              (ctx) =>
                ctx.request.params.id === 'secret' ? new Response('hidden', { status: 404 }) : undefined,
            ],
            outbound: [],
          },
        },
      ],
    });
    try {
      const { secret } = await shared.keys.create({ customerId: 'cus_pol' });
      const short = await get(`${gw.url}/v1/weather?city=Atlantis`, secret);
      expect(short.status).toBe(418);
      expect(short.json()).toEqual({ error: 'no such city' });
      expect(short.headers['x-request-id']).toBeDefined();
      const normal = await get(`${gw.url}/v1/weather?city=Paris`, secret);
      expect(normal.status).toBe(200);
      expect(normal.headers['x-served-for']).toBe('cus_pol');
      expect(normal.headers['x-upstream-status']).toBe('200');
      expect(normal.json()).toMatchObject({ city: 'Paris' });
      const hidden = await get(`${gw.url}/v1/items/secret`, secret);
      expect(hidden.status).toBe(404);
      expect(hidden.text).toBe('hidden');
      expect((await get(`${gw.url}/v1/items/visible`, secret)).status).toBe(200);
    } finally {
      await gw.close();
    }
  });
});

describe('quotas', () => {
  it('hard quota under concurrency: 200 requests against 100 remaining → exactly 100 pass', async () => {
    const resetAt = new Date(Date.now() + 3600_000);
    const gw = await startGateway(
      shared,
      { upstream: demo.url, openapi: './openapi.yaml' },
      {
        access: planResolver(() => ({
          quotas: {
            api_requests: {
              featureKey: 'api_requests',
              meterSlug: 'requests',
              counterKey: 'q:sub_hard:api_requests:2026-01',
              limit: 150,
              soft: false,
              periodStart: period.from,
              resetAt,
            },
          },
        })),
        quotaSeed: async () => {
          await new Promise((r) => setTimeout(r, 20));
          return 50;
        },
      },
    );
    try {
      const { secret } = await shared.keys.create({ customerId: 'hard_1' });
      const results = await Promise.all(
        Array.from({ length: 200 }, async (_, i) => get(`${gw.url}/v1/items/${i}`, secret)),
      );
      const ok = results.filter((r) => r.status === 200);
      const refused = results.filter((r) => r.status === 429);
      expect(ok).toHaveLength(100);
      expect(refused).toHaveLength(100);
      const problem = refused[0]?.json();
      expect(problem).toMatchObject({
        type: 'https://tollgate.dev/problems/quota-exceeded',
        limit: 150,
        upgradeUrl: 'http://portal.test/pricing',
        reset: resetAt.toISOString(),
      });
      expect(Number(refused[0]?.headers['retry-after'])).toBeGreaterThan(3500);
      const remaining = ok.map((r) => Number(r.headers['x-quota-remaining'])).sort((a, b) => a - b);
      expect(remaining[0]).toBe(0);
      expect(remaining.at(-1)).toBe(99);
      expect(ok[0]?.headers['x-quota-limit']).toBe('150');
    } finally {
      await gw.close();
    }
  });

  it('soft quota lets calls through beyond the limit (overage)', async () => {
    const gw = await startGateway(
      shared,
      { upstream: demo.url, openapi: './openapi.yaml' },
      {
        access: planResolver(() => ({
          quotas: {
            api_requests: {
              featureKey: 'api_requests',
              meterSlug: 'requests',
              counterKey: 'q:sub_soft:api_requests:2026-01',
              limit: 2,
              soft: true,
              periodStart: period.from,
              resetAt: period.to,
            },
          },
        })),
      },
    );
    try {
      const { secret } = await shared.keys.create({ customerId: 'growth_1' });
      const statuses = [];
      for (let i = 0; i < 4; i++) statuses.push((await get(`${gw.url}/v1/items/${i}`, secret)).status);
      expect(statuses).toEqual([200, 200, 200, 200]);
    } finally {
      await gw.close();
    }
  });
});
