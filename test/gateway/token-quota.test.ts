import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DemoUpstream, startDemoUpstream } from '../../examples/quickstart/upstream.ts';
import type { Tollgate } from '../../src/app.ts';
import { resolveConfig } from '../../src/config/index.ts';
import { accessCard, testFeatures, testMeters, tokensFeature } from '../support/catalog.ts';
import { startTestTollgate } from '../support/tollgate.ts';

/**
 * A hard quota on AI tokens: the model is read from the request, so a call for a model whose
 * token quota is used up is refused before it reaches the upstream (429), while the other model
 * keeps working. The overshoot is the tokens of the one call that crossed the limit.
 */
let upstream: DemoUpstream;
let tollgate: Tollgate;

beforeAll(async () => {
  upstream = await startDemoUpstream(0);
  const config = resolveConfig(
    {
      upstream: upstream.url,
      routes: [
        {
          method: 'POST',
          path: '/v1/chat/completions',
          feature: 'chat',
          models: { 'tg-large': 'large_model' },
        },
      ],
      meters: [testMeters.tokens],
      features: [
        testFeatures.chat,
        testFeatures.large_model,
        tokensFeature('large_output_tokens', 'tg-large output tokens', { model: 'tg-large', type: 'output' }),
      ],
      plans: [
        {
          key: 'capped',
          name: 'Capped',
          rateCards: [
            accessCard('chat'),
            accessCard('large_model', 'large'),
            {
              key: 'large_output',
              feature: 'large_output_tokens',
              entitlement: { type: 'metered', limit: 5, usagePeriod: 'P1M' },
            },
          ],
        },
      ],
    },
    'token-quota.config.ts',
    '/tmp',
  );
  tollgate = await startTestTollgate(config, 'token-quota');
});

afterAll(async () => {
  await tollgate?.stop();
  await upstream?.close();
});

async function chat(secret: string, model: string) {
  const res = await request(`${tollgate.gatewayUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model, messages: [{ role: 'user', content: 'tell me about the weather today' }] }),
  });
  return { status: res.statusCode, body: (await res.body.json()) as Record<string, unknown> };
}

describe('hard token quota', () => {
  it('refuses the model whose tokens are used up, before calling the upstream; the other model works', async () => {
    const customer = await tollgate.customers.create({ name: 'Token capped' });
    const subscription = await tollgate.subscriptions.subscribe({
      customerId: customer.id,
      planKey: 'capped',
    });
    const { secret } = await tollgate.keys.create({
      customerId: customer.id,
      subscriptionId: subscription.id,
    });

    const first = await chat(secret, 'tg-large');
    expect(first.status).toBe(200);
    const spent = (first.body.usage as { completion_tokens: number }).completion_tokens;
    expect(spent).toBeGreaterThanOrEqual(5); // one answer uses up the 5 included output tokens

    const refused = await chat(secret, 'tg-large');
    expect(refused.status).toBe(429);
    expect(refused.body).toMatchObject({
      type: 'https://tollgate.dev/problems/quota-exceeded',
      feature: 'large_output_tokens',
      limit: 5,
      used: spent,
    });

    expect((await chat(secret, 'tg-small')).status).toBe(200);
  });
});
