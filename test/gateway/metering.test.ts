import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DemoUpstream, startDemoUpstream } from '../../examples/quickstart/upstream.ts';
import type { AccessResolver } from '../../src/subscriptions/access.ts';
import {
  closeShared,
  get,
  type Harness,
  openShared,
  type Shared,
  startGateway,
  startServer,
} from './harness.ts';

let shared: Shared;
let demo: DemoUpstream;
let gw: Harness;
let secret: string;
let keyId: string;

const chatBody = (stream: boolean) =>
  JSON.stringify({
    model: 'tg-small',
    messages: [{ role: 'user', content: 'Hello there, gateway!' }],
    stream,
  });

async function chat(url: string, key: string, stream: boolean) {
  const res = await request(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: chatBody(stream),
  });
  return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
}

beforeAll(async () => {
  shared = await openShared();
  demo = await startDemoUpstream(0);
  gw = await startGateway(shared, { upstream: demo.url, openapi: './openapi.yaml' });
  const created = await shared.keys.create({ customerId: 'cus_meter' });
  secret = created.secret;
  keyId = created.key.id;
});
afterAll(async () => {
  await gw.close();
  await demo.close();
  await closeShared(shared);
});

describe('usage events', () => {
  it('a request event with deterministic id, route template, status and key', async () => {
    const res = await get(`${gw.url}/v1/items/7`, secret);
    const requestId = res.headers['x-request-id'] as string;
    const events = gw.usage.events.filter((e) => e.id.startsWith(requestId));
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      specversion: '1.0',
      id: `${requestId}/request`,
      source: 'tollgate-gateway',
      type: 'request',
      subject: 'cus_meter',
      data: { route: '/v1/items/{id}', method: 'GET', status: 200, key: keyId },
    });
    expect(typeof events[0]?.data.latencyMs).toBe('number');
  });

  it('token events from an OpenAI-style JSON response', async () => {
    const res = await chat(gw.url, secret, false);
    expect(res.status).toBe(200);
    const body = JSON.parse(res.text);
    const requestId = res.headers['x-request-id'] as string;
    const tokens = gw.usage.events.filter((e) => e.id.startsWith(requestId) && e.type === 'tokens');
    expect(tokens.map((e) => [e.id, e.data.type, e.data.tokens])).toEqual([
      [`${requestId}/tokens/input`, 'input', body.usage.prompt_tokens],
      [`${requestId}/tokens/output`, 'output', body.usage.completion_tokens],
    ]);
    expect(tokens[0]?.data).toMatchObject({ model: 'tg-small', key: keyId, route: '/v1/chat/completions' });
  });

  it('token events from an SSE stream (final usage chunk), stream passed through intact', async () => {
    const res = await chat(gw.url, secret, true);
    expect(res.status).toBe(200);
    expect(res.text.trim().endsWith('data: [DONE]')).toBe(true);
    const usageLine = res.text.split('\n').find((l) => l.includes('"usage"')) as string;
    const usage = JSON.parse(usageLine.slice(6)).usage;
    const requestId = res.headers['x-request-id'] as string;
    const tokens = gw.usage.events.filter((e) => e.id.startsWith(requestId) && e.type === 'tokens');
    expect(tokens.map((e) => [e.data.type, e.data.tokens, e.data.model])).toEqual([
      ['input', usage.prompt_tokens, 'tg-small'],
      ['output', usage.completion_tokens, 'tg-small'],
    ]);
  });

  it('only 2xx responses are metered by default', async () => {
    const before = gw.usage.events.length;
    const res = await get(`${gw.url}/v1/weather`, secret); // upstream 400: city missing
    expect(res.status).toBe(400);
    expect(gw.usage.events.length).toBe(before);
  });

  it('events are in the log before the client receives the end of the response', async () => {
    gw.usage.delayMs = 150;
    try {
      const res = await get(`${gw.url}/v1/items/slow-log`, secret);
      const requestId = res.headers['x-request-id'] as string;
      // `get` resolved only after the full body: the append must already be done.
      expect(gw.usage.events.some((e) => e.id === `${requestId}/request`)).toBe(true);
    } finally {
      gw.usage.delayMs = 0;
    }
  });

  it('when the usage log fails before the response started, the client gets 503 with Retry-After, not the answer', async () => {
    gw.usage.fail = true;
    try {
      const res = await get(`${gw.url}/v1/items/unlogged`, secret);
      expect(res.status).toBe(503);
      expect(res.headers['content-type']).toBe('application/problem+json');
      expect(res.headers['retry-after']).toBe('5');
      expect(res.json()).toMatchObject({ type: 'https://tollgate.dev/problems/usage-not-recorded' });
      expect(res.text).not.toContain('"id"');
    } finally {
      gw.usage.fail = false;
    }
  });

  it('when the usage log fails after a streamed response started, the client never gets it complete', async () => {
    gw.usage.fail = true;
    try {
      const res = await request(`${gw.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' },
        body: chatBody(true),
      });
      expect(res.statusCode).toBe(200);
      await expect(res.body.text()).rejects.toThrow();
    } finally {
      gw.usage.fail = false;
    }
  });

  it('a metering hook can replace the events (custom dimensions)', async () => {
    const local = await startGateway(shared, {
      upstream: demo.url,
      openapi: './openapi.yaml',
      metering: {
        hook: (ctx, response) => [
          ...response.events,
          { type: 'weather_lookup', data: { city: ctx.request.query.get('city'), status: response.status } },
        ],
      },
    });
    try {
      const res = await get(`${local.url}/v1/weather?city=Rome`, secret);
      const requestId = res.headers['x-request-id'] as string;
      expect(local.usage.events.map((e) => [e.id, e.type, e.data.city])).toEqual([
        [`${requestId}/request/0`, 'request', undefined],
        [`${requestId}/weather_lookup/1`, 'weather_lookup', 'Rome'],
      ]);
    } finally {
      await local.close();
    }
  });

  it('token quotas are added after the response for matching features', async () => {
    const counterKey = 'q:sub_ai:small_input_tokens:2026-01';
    const quota = {
      featureKey: 'small_input_tokens',
      meterSlug: 'tokens',
      counterKey,
      limit: 1_000_000,
      soft: true,
      periodStart: new Date('2026-01-01T00:00:00Z'),
      resetAt: new Date(Date.now() + 3600_000),
    };
    const access: AccessResolver = {
      resolve: (customerId) => ({
        customer: { id: customerId, name: customerId, metadata: {} },
        subscription: null,
        // The chat route's feature: with a real resolver every feature route needs it.
        entitlements: { chat: { featureKey: 'chat', type: 'boolean', hasAccess: true } },
        rateLimit: null,
        quotas: { small_input_tokens: quota },
        blocked: null,
        upgradeUrl: 'http://portal.test/pricing',
      }),
    };
    const config = await import('../../examples/quickstart/tollgate.config.ts');
    const { meters, features } = config.default;
    const local = await startGateway(
      shared,
      { upstream: demo.url, openapi: './openapi.yaml', meters, features },
      { access },
    );
    try {
      const res = await chat(local.url, secret, false);
      const prompt = JSON.parse(res.text).usage.prompt_tokens;
      const spec = { limit: quota.limit, hard: false, resetAt: quota.resetAt.getTime(), seed: async () => 0 };
      const counted = await local.counters.add(counterKey, 0, spec);
      expect(counted.used).toBe(prompt);
    } finally {
      await local.close();
    }
  });

  it('upstream errors do not produce events', async () => {
    const broken = await startServer((_req, res) => res.destroy());
    const local = await startGateway(shared, {
      upstream: broken.url,
      routes: [{ method: 'GET', path: '/b' }],
    });
    try {
      expect((await get(`${local.url}/b`, secret)).status).toBe(502);
      expect(local.usage.events).toHaveLength(0);
    } finally {
      await local.close();
      await broken.close();
    }
  });
});
