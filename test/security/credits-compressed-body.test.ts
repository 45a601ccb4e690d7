import { Readable } from 'node:stream';
import { gunzipSync, gzipSync } from 'node:zlib';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tollgate } from '../../src/app.ts';
import { resolveConfig } from '../../src/config/index.ts';
import { startServer } from '../gateway/harness.ts';
import { accessCard, testFeatures, testMeters, tokensFeature } from '../support/catalog.ts';
import { startTestTollgate } from '../support/tollgate.ts';

/**
 * A credits-only customer's reservation on an AI route without `models` (so no model gating reads
 * the body) sized its input tokens by the Content-Length: a gzip body that decodes to far more
 * than the balance covers reserved a few cents and reached the upstream. The reservation is now
 * sized by the decoded bytes, so the compressed body gets the same 402 as the plain one.
 */
let upstream: Awaited<ReturnType<typeof startServer>>;
let tollgate: Tollgate;
const received: { encoding: string | undefined; body: Buffer }[] = [];

const INPUT_PRICE = '0.01';
const OUTPUT_PRICE = '0.02';

beforeAll(async () => {
  upstream = await startServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    received.push({ encoding: req.headers['content-encoding'], body: Buffer.concat(chunks) });
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{"ok":true}');
  });
  const config = resolveConfig(
    {
      upstream: upstream.url,
      routes: [{ method: 'POST', path: '/v1/completions', feature: 'chat', reserveOutputTokens: 40 }],
      meters: [testMeters.requests, testMeters.tokens],
      features: [
        testFeatures.chat,
        tokensFeature('input_tokens', 'Input tokens', { type: 'input' }),
        tokensFeature('output_tokens', 'Output tokens', { type: 'output' }),
      ],
      plans: [
        {
          key: 'prepaid',
          name: 'Prepaid',
          rateCards: [
            accessCard('chat'),
            { key: 'input', feature: 'input_tokens', price: { type: 'unit', amount: INPUT_PRICE } },
            { key: 'output', feature: 'output_tokens', price: { type: 'unit', amount: OUTPUT_PRICE } },
          ],
        },
      ],
    },
    'credits-compressed-body.config.ts',
    '/tmp',
  );
  tollgate = await startTestTollgate(config, 'credits-compressed-body');
}, 180_000);

afterAll(async () => {
  await tollgate?.stop();
  await upstream?.close();
});

/** A credits-only customer with `balance` USD. */
async function prepaidKey(name: string, balance: string): Promise<string> {
  const customer = await tollgate.customers.create({ name });
  const subscription = await tollgate.subscriptions.subscribe({
    customerId: customer.id,
    planKey: 'prepaid',
  });
  const { secret } = await tollgate.keys.create({ customerId: customer.id, subscriptionId: subscription.id });
  const credits = tollgate.billing.credits;
  await credits.configure({ customerId: customer.id, currency: 'USD', creditsOnly: true });
  await credits.grant({ customerId: customer.id, currency: 'USD', amount: balance, note: 'Prepaid' });
  return secret;
}

async function complete(secret: string, body: Buffer | Readable, encoding?: string) {
  const res = await request(`${tollgate.gatewayUrl}/v1/completions`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${secret}`,
      'content-type': 'application/json',
      ...(encoding ? { 'content-encoding': encoding } : {}),
    },
    body,
  });
  return { status: res.statusCode, type: res.headers['content-type'], body: await res.body.text() };
}

// 200,000 bytes of prompt: 2,000 USD of input tokens at 0.01 each; the balance is 10 USD.
const hugePrompt = Buffer.from(JSON.stringify({ prompt: 'a'.repeat(200_000), max_tokens: 40 }));
const smallPrompt = Buffer.from(JSON.stringify({ prompt: 'hello there', max_tokens: 40 }));

describe('credit reservation on compressed bodies', () => {
  it('a gzip body decoding to more than the balance covers gets 402, like the plain body', async () => {
    const secret = await prepaidKey('Prepaid gzip', '10');
    const compressed = gzipSync(hugePrompt);
    expect(compressed.length).toBeLessThan(1_000); // what the old reservation sized: about 10 USD less
    const before = received.length;

    const plain = await complete(secret, hugePrompt);
    expect(plain.status).toBe(402);
    const gzipped = await complete(secret, compressed, 'gzip');
    expect(gzipped.status).toBe(402);
    expect(gzipped.type).toBe('application/problem+json');
    expect(JSON.parse(gzipped.body)).toMatchObject({
      type: 'https://tollgate.dev/problems/credits-exhausted',
      currency: 'USD',
    });
    expect(JSON.parse(gzipped.body).reserve).toBe(JSON.parse(plain.body).reserve);
    expect(received.length).toBe(before);
  });

  it('a chunked body (no Content-Length) is sized by its bytes too', async () => {
    const secret = await prepaidKey('Prepaid chunked', '10');
    const before = received.length;
    async function* chunks() {
      for (let i = 0; i < 4; i++)
        yield hugePrompt.subarray(i * 50_000, (i + 1) * 50_000 + (i === 3 ? 100 : 0));
    }
    const res = await complete(secret, Readable.from(chunks()));
    expect(res.status).toBe(402);
    expect(received.length).toBe(before);
  });

  it('a gzip body the balance covers goes upstream exactly as sent', async () => {
    const secret = await prepaidKey('Prepaid small gzip', '10');
    const sent = gzipSync(smallPrompt);
    const before = received.length;
    expect((await complete(secret, sent, 'gzip')).status).toBe(200);
    const got = received.slice(before);
    expect(got).toHaveLength(1);
    expect(got[0]?.encoding).toBe('gzip');
    expect(got[0]?.body.equals(sent)).toBe(true);
    expect(gunzipSync(got[0]?.body as Buffer).equals(smallPrompt)).toBe(true);
  });
});
