import { brotliCompressSync, deflateSync, gunzipSync, gzipSync } from 'node:zlib';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tollgate } from '../../src/app.ts';
import { resolveConfig } from '../../src/config/index.ts';
import { startServer } from '../gateway/harness.ts';
import { accessCard, testFeatures } from '../support/catalog.ts';
import { startTestTollgate } from '../support/tollgate.ts';

/**
 * Issue 12, row 7: a gzip-encoded chat body asking for the large model, with a key whose plan
 * lacks it, went to the upstream (which decodes it) instead of 403. Model gating now decodes
 * gzip, deflate and br within the 1 MB body limit (a decompression bomb stops at the limit: 413),
 * and refuses encodings it cannot read (415) or bodies that do not decode (400).
 */
let upstream: Awaited<ReturnType<typeof startServer>>;
let tollgate: Tollgate;
let basic: string;
let large: string;
const received: { encoding: string | undefined; body: Buffer }[] = [];
const LIMIT = 1_048_576;

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
      routes: [
        {
          method: 'POST',
          path: '/v1/chat/completions',
          feature: 'chat',
          models: { 'tg-large': 'large_model' },
        },
      ],
      features: [testFeatures.chat, testFeatures.large_model],
      plans: [
        { key: 'basic', name: 'Basic', rateCards: [accessCard('chat')] },
        { key: 'large', name: 'Large', rateCards: [accessCard('chat'), accessCard('large_model', 'large')] },
      ],
    },
    'gateway-encoded-bodies.config.ts',
    '/tmp',
  );
  tollgate = await startTestTollgate(config, 'gateway-encoded-bodies');
  const keyOn = async (planKey: string) => {
    const customer = await tollgate.customers.create({ name: `On ${planKey}` });
    const subscription = await tollgate.subscriptions.subscribe({ customerId: customer.id, planKey });
    return (await tollgate.keys.create({ customerId: customer.id, subscriptionId: subscription.id })).secret;
  };
  basic = await keyOn('basic');
  large = await keyOn('large');
}, 180_000);

afterAll(async () => {
  await tollgate?.stop();
  await upstream?.close();
});

const chat = (model: string) =>
  Buffer.from(JSON.stringify({ model, messages: [{ role: 'user', content: 'hello there' }] }));

async function post(secret: string, body: Buffer, encoding?: string) {
  const res = await request(`${tollgate.gatewayUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${secret}`,
      'content-type': 'application/json',
      ...(encoding ? { 'content-encoding': encoding } : {}),
    },
    body,
  });
  const text = await res.body.text();
  return { status: res.statusCode, type: res.headers['content-type'], text };
}

describe('model gating reads encoded bodies', () => {
  it.each([
    ['gzip', gzipSync],
    ['GZip', gzipSync],
    ['x-gzip', gzipSync],
    ['deflate', deflateSync],
    ['br', brotliCompressSync],
  ] as const)(
    'a %s body asking for the large model on a plan without it: 403, upstream not called',
    async (encoding, encode) => {
      const before = received.length;
      const res = await post(basic, encode(chat('tg-large')), encoding);
      expect(res.status).toBe(403);
      expect(res.type).toBe('application/problem+json');
      expect(JSON.parse(res.text)).toMatchObject({
        type: 'https://tollgate.dev/problems/model-not-in-plan',
        model: 'tg-large',
      });
      expect(received.length).toBe(before);
    },
  );

  it('a plan with the model passes the body upstream exactly as sent', async () => {
    const before = received.length;
    const sent = gzipSync(chat('tg-large'));
    expect((await post(large, sent, 'gzip')).status).toBe(200);
    const got = received.slice(before);
    expect(got).toHaveLength(1);
    expect(got[0]?.encoding).toBe('gzip');
    expect(got[0]?.body.equals(sent)).toBe(true);
    expect(JSON.parse(gunzipSync(got[0]?.body as Buffer).toString()).model).toBe('tg-large');
  });

  it('a decompression bomb stops at the limit: 413, upstream not called', async () => {
    const before = received.length;
    const padding = ' '.repeat(64 * LIMIT);
    const bomb = gzipSync(Buffer.from(`{"model":"tg-small","pad":"${padding}"}`));
    expect(bomb.length).toBeLessThan(LIMIT);
    const res = await post(large, bomb, 'gzip');
    expect(res.status).toBe(413);
    expect(res.type).toBe('application/problem+json');
    expect(received.length).toBe(before);
  });

  it('refuses an encoding it cannot read (415) and a body that does not decode (400)', async () => {
    const before = received.length;
    const zstd = await post(basic, chat('tg-large'), 'zstd');
    expect(zstd.status).toBe(415);
    expect(zstd.type).toBe('application/problem+json');
    const stacked = await post(basic, gzipSync(gzipSync(chat('tg-large'))), 'gzip, gzip');
    expect(stacked.status).toBe(415);
    const broken = await post(basic, Buffer.from('not gzip at all'), 'gzip');
    expect(broken.status).toBe(400);
    expect(broken.type).toBe('application/problem+json');
    expect(received.length).toBe(before);
  });
});
