import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tollgate } from '../../src/app.ts';
import { startServer } from '../gateway/harness.ts';
import { testCatalog } from '../support/catalog.ts';
import { startTestTollgate } from '../support/tollgate.ts';

/**
 * Issue 12, row 3: `GET /v1/items/%2e%2e` (and `/v1/items/..`) with a Free key matched the route
 * `/v1/items/{id}` but went upstream as sent, where it resolved to `/v1/`; with a template like
 * `/v1/items/{id}/reviews` it reached `/v1/reviews`, a path no route allows. Now the gateway
 * matches and forwards one normalised path, or refuses with 400. Replayed over real HTTP against
 * an upstream that records every path it is sent.
 */
let upstream: Awaited<ReturnType<typeof startServer>>;
let tollgate: Tollgate;
let secret: string;
const received: string[] = [];

beforeAll(async () => {
  upstream = await startServer((req, res) => {
    received.push(req.url ?? '');
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{"ok":true}');
  });
  tollgate = await startTestTollgate(
    testCatalog({
      upstream: upstream.url,
      routes: [
        { method: 'GET', path: '/v1/items/{id}', feature: 'api_requests' },
        { method: 'GET', path: '/v1/items/{id}/reviews', feature: 'api_requests' },
      ],
    }),
    'gateway-paths',
  );
  const customer = await tollgate.customers.create({ name: 'Free user' });
  const subscription = await tollgate.subscriptions.subscribe({ customerId: customer.id, planKey: 'free' });
  ({ secret } = await tollgate.keys.create({ customerId: customer.id, subscriptionId: subscription.id }));
}, 180_000);

afterAll(async () => {
  await tollgate?.stop();
  await upstream?.close();
});

/**
 * The request line exactly as written: an HTTP client following the WHATWG URL rules (fetch,
 * undici, browsers) resolves `..` and `%2e%2e` itself before sending, as an attacker's does not.
 */
function get(path: string): Promise<{ status: number; type: string | undefined }> {
  const { hostname, port } = new URL(tollgate.gatewayUrl as string);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    let text = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      text += chunk;
    });
    socket.on('error', reject);
    socket.on('end', () => {
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1]);
      const type = /\r\ncontent-type: ([^\r]*)\r\n/i.exec(text)?.[1];
      resolve({ status, type });
    });
    socket.write(
      `GET ${path} HTTP/1.1\r\nHost: ${hostname}:${port}\r\nAuthorization: Bearer ${secret}\r\nConnection: close\r\n\r\n`,
    );
  });
}

/** A path the upstream could resolve to another one: a dot-segment, plain or encoded. */
const hasDotSegment = (path: string) =>
  decodeURIComponent(path.split('?')[0] as string)
    .split(/[/\\]/)
    .some((s) => s === '.' || s === '..');

describe('one path, matched and forwarded', () => {
  it.each([
    '/v1/items/%2e%2e',
    '/v1/items/..',
    '/v1/items/%2E.',
    '/v1/items/.%2e',
    '/v1/items/%2e%2e/reviews',
    '/v1/items/../reviews',
    '/v1/items/..%2f..%2fadmin/reviews',
    '/v1/items/..%5c..%5cadmin',
    '/v1/items/%2e%2e%2f%2e%2e%2fadmin',
  ])('%s never reaches the upstream as another path than the one matched', async (path) => {
    const before = received.length;
    const res = await get(path);
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(500);
    expect(res.type).toBe('application/problem+json');
    expect(received.slice(before)).toEqual([]);
  });

  it('forwards the normalised path it matched, with the query as sent', async () => {
    const before = received.length;
    const res = await get('/v1/items/x/%2e%2e/7?q=a%2Fb');
    expect(res.status).toBe(200);
    expect(received.slice(before)).toEqual(['/v1/items/7?q=a%2Fb']);
    expect(received.some(hasDotSegment)).toBe(false);
  });
});
