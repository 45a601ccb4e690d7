import { connect } from 'node:net';
import { Readable } from 'node:stream';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  closeShared,
  type Harness,
  openShared,
  type Shared,
  startGateway,
  startServer,
} from '../gateway/harness.ts';

/**
 * Issue 12, row 8: a request announcing 1,000 body bytes and sending 10 held its gateway
 * connection (and an upstream request) open for 100+ s. `gateway.limits` now cuts off slow
 * headers and slow bodies and caps the body proxied upstream; replayed over real HTTP. The
 * ceilings below are far above the configured timeouts so that a busy machine cannot fail them;
 * without the limits the connection stays open for good and they fail.
 */
let shared: Shared;
let gw: Harness;
let upstream: Awaited<ReturnType<typeof startServer>>;
let secret: string;
const bodies: number[] = [];

const HEADERS_TIMEOUT_MS = 1_000;
const REQUEST_TIMEOUT_MS = 2_000;
const BODY_BYTES = 4096;
const CEILING_MS = 30_000;

beforeAll(async () => {
  shared = await openShared();
  upstream = await startServer(async (req, res) => {
    let size = 0;
    try {
      for await (const chunk of req) size += (chunk as Buffer).length;
    } catch {
      return; // the gateway aborted the request
    }
    bodies.push(size);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{"ok":true}');
  });
  gw = await startGateway(shared, {
    upstream: upstream.url,
    routes: [{ method: 'POST', path: '/v1/upload' }],
    gateway: {
      limits: {
        headersTimeoutMs: HEADERS_TIMEOUT_MS,
        requestTimeoutMs: REQUEST_TIMEOUT_MS,
        bodyBytes: BODY_BYTES,
      },
    },
  });
  ({ secret } = await shared.keys.create({ customerId: 'cus_limits' }));
}, 180_000);

afterAll(async () => {
  await gw?.close();
  await upstream?.close();
  await closeShared(shared);
});

/** Writes `text` raw and resolves with what came back once the gateway closed the connection. */
function sendAndWaitForClose(text: string): Promise<{ response: string; closedAfterMs: number }> {
  const { hostname, port } = new URL(gw.url);
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const socket = connect(Number(port), hostname);
    let response = '';
    const ceiling = setTimeout(() => {
      socket.destroy();
      reject(new Error(`the gateway kept the connection open for ${CEILING_MS} ms`));
    }, CEILING_MS);
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      response += chunk;
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(ceiling);
      resolve({ response, closedAfterMs: Date.now() - started });
    });
    socket.write(text);
  });
}

/** A 408 answered as every other refusal: problem+json naming the status. */
const PROBLEM_408 = /^HTTP\/1\.1 408 [\s\S]*content-type: application\/problem\+json[\s\S]*"status":408/i;

describe('gateway listener limits', () => {
  it('a client announcing 1,000 body bytes and sending 10 is cut off (408)', async () => {
    const before = bodies.length;
    const { response, closedAfterMs } = await sendAndWaitForClose(
      `POST /v1/upload HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${secret}\r\nContent-Type: application/octet-stream\r\nContent-Length: 1000\r\n\r\n0123456789`,
    );
    expect(closedAfterMs).toBeGreaterThanOrEqual(REQUEST_TIMEOUT_MS - 100);
    // Once proxying started the response may be cut without a status line; never a 2xx, and a
    // status line that does come is a 408 problem.
    if (response !== '') expect(response).toMatch(PROBLEM_408);
    expect(bodies.length).toBe(before);
  });

  it('a client that never finishes its headers is cut off', async () => {
    const { response, closedAfterMs } = await sendAndWaitForClose(
      `GET /v1/upload HTTP/1.1\r\nHost: x\r\nX-Slow: a`,
    );
    expect(closedAfterMs).toBeGreaterThanOrEqual(HEADERS_TIMEOUT_MS - 100);
    expect(response).toMatch(PROBLEM_408);
  });

  it('a body announced over gateway.limits.bodyBytes is refused before the upstream is called (413)', async () => {
    const before = bodies.length;
    const res = await request(`${gw.url}/v1/upload`, {
      method: 'POST',
      headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/octet-stream' },
      body: Buffer.alloc(BODY_BYTES + 1),
    });
    expect(res.statusCode).toBe(413);
    expect(res.headers['content-type']).toBe('application/problem+json');
    expect(((await res.body.json()) as { detail: string }).detail).toContain('gateway.limits.bodyBytes');
    expect(bodies.length).toBe(before);
  });

  it('a chunked body that grows past gateway.limits.bodyBytes is stopped (413); one within it passes', async () => {
    const before = bodies.length;
    const chunks = (count: number) =>
      Readable.from(
        (function* () {
          for (let i = 0; i < count; i++) yield Buffer.alloc(1024, 97);
        })(),
      );
    const over = await request(`${gw.url}/v1/upload`, {
      method: 'POST',
      headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/octet-stream' },
      body: chunks(16),
    });
    expect(over.statusCode).toBe(413);
    expect(over.headers['content-type']).toBe('application/problem+json');
    await over.body.text();
    expect(bodies.length).toBe(before);

    const within = await request(`${gw.url}/v1/upload`, {
      method: 'POST',
      headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/octet-stream' },
      body: chunks(4),
    });
    expect(within.statusCode).toBe(200);
    await within.body.text();
    expect(bodies.slice(before)).toEqual([4096]);
  });
});
