import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tollgate } from '../../src/app.ts';
import { type MeteringHookInput, type PolicyContext, resolveConfig } from '../../src/config/index.ts';
import { accessCard, testFeatures } from '../support/catalog.ts';
import { startTestTollgate } from '../support/tollgate.ts';
import { startServer } from './harness.ts';

/**
 * Issue 13: the gateway and metering read a meter's JSONPath with one accessor. A meter summing
 * `$.usage[0].tokens` once counted 0 in the gateway (it split the path on "." and lost the
 * index) while the meter that bills summed the tokens: a hard quota on it never refused anything.
 * Each answer here costs 4 tokens at `usage[0]` (and 100 at `usage[1]`, which nobody may read).
 */
let upstream: Awaited<ReturnType<typeof startServer>>;
let tollgate: Tollgate;

beforeAll(async () => {
  upstream = await startServer((_req, res) => {
    const body = JSON.stringify({ answer: 'ok', usage: [{ tokens: 4 }, { tokens: 100 }] });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
  const config = resolveConfig(
    {
      upstream: upstream.url,
      routes: [
        { method: 'POST', path: '/v1/complete', feature: 'chat', models: { 'tg-large': 'large_model' } },
      ],
      metering: {
        hook: (_ctx: PolicyContext, response: MeteringHookInput) => [
          ...response.events,
          { type: 'ai', data: { model: 'tg-large', usage: (response.body as { usage: unknown }).usage } },
        ],
      },
      meters: [
        {
          slug: 'ai_tokens',
          eventType: 'ai',
          aggregation: 'SUM',
          valueProperty: '$.usage[0].tokens',
          groupBy: { model: '$.model' },
        },
      ],
      features: [
        testFeatures.chat,
        testFeatures.large_model,
        {
          key: 'large_tokens',
          name: 'Large tokens',
          meter: 'ai_tokens',
          meterGroupByFilters: { model: 'tg-large' },
        },
      ],
      plans: [
        {
          key: 'capped',
          name: 'Capped',
          rateCards: [
            accessCard('chat'),
            accessCard('large_model', 'large'),
            {
              key: 'tokens',
              feature: 'large_tokens',
              entitlement: { type: 'metered', limit: 10, usagePeriod: 'P1M' },
            },
          ],
        },
      ],
    },
    'jsonpath-quota.config.ts',
    '/tmp',
  );
  tollgate = await startTestTollgate(config, 'jsonpath-quota');
}, 180_000);

afterAll(async () => {
  await tollgate?.stop();
  await upstream?.close();
});

async function complete(secret: string) {
  const res = await request(`${tollgate.gatewayUrl}/v1/complete`, {
    method: 'POST',
    headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'tg-large', prompt: 'hello' }),
  });
  return { status: res.statusCode, body: (await res.body.json()) as Record<string, unknown> };
}

describe('a meter on $.usage[0].tokens', () => {
  it('the hard quota refuses at the value the meter bills', async () => {
    const customer = await tollgate.customers.create({ name: 'Indexed usage' });
    const subscription = await tollgate.subscriptions.subscribe({
      customerId: customer.id,
      planKey: 'capped',
    });
    const { secret } = await tollgate.keys.create({
      customerId: customer.id,
      subscriptionId: subscription.id,
    });

    // 0 → 4 → 8 → 12 tokens: the third call starts below the limit of 10, the fourth does not.
    for (let i = 0; i < 3; i++) expect((await complete(secret)).status).toBe(200);
    const refused = await complete(secret);
    expect(refused.status).toBe(429);
    expect(refused.body).toMatchObject({ feature: 'large_tokens', limit: 10, used: 12 });

    const billed = async () =>
      (await tollgate.metering.reader.query({ meterSlug: 'ai_tokens', subject: [customer.id] })).data[0]
        ?.value;
    await expect.poll(billed, { timeout: 30_000, interval: 100 }).toBe(12);
  });
});
