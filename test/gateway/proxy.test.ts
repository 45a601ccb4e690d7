import { once } from 'node:events';
import { connect } from 'node:net';
import { Readable } from 'node:stream';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DemoUpstream, startDemoUpstream } from '../../examples/quickstart/upstream.ts';
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
let key: string;

beforeAll(async () => {
  shared = await openShared();
  demo = await startDemoUpstream(0);
  gw = await startGateway(shared, { upstream: demo.url, openapi: './openapi.yaml' });
  key = (await shared.keys.create({ customerId: 'cus_proxy' })).secret;
});
afterAll(async () => {
  await gw.close();
  await demo.close();
  await closeShared(shared);
});

describe('gateway proxy', () => {
  it('proxies a routed request with path parameters and a request id', async () => {
    const res = await get(`${gw.url}/v1/items/42?x=1`, key);
    expect(res.status).toBe(200);
    expect(res.json()).toMatchObject({ id: '42', name: 'Item 42' });
    expect(res.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('answers 404 and 405 as problem+json', async () => {
    const missing = await get(`${gw.url}/v1/nope`, key);
    expect(missing.status).toBe(404);
    expect(missing.headers['content-type']).toBe('application/problem+json');
    expect(missing.json()).toMatchObject({ status: 404, type: 'https://tollgate.dev/problems/not-found' });
    const wrong = await request(`${gw.url}/v1/weather`, { method: 'DELETE', headers: { 'x-api-key': key } });
    expect(wrong.statusCode).toBe(405);
    expect(wrong.headers.allow).toBe('GET, HEAD');
    expect(wrong.headers['content-type']).toBe('application/problem+json');
    await wrong.body.text();
  });

  it('strips hop-by-hop headers, the API key, and adds X-Forwarded-*', async () => {
    let seen: Record<string, unknown> = {};
    const echo = await startServer((req, res) => {
      seen = req.headers;
      res.writeHead(200, { 'content-type': 'text/plain', 'keep-alive': 'timeout=5', 'x-upstream': 'yes' });
      res.end('ok');
    });
    const local = await startGateway(shared, { upstream: echo.url, routes: [{ method: '*', path: '/*' }] });
    try {
      // A raw request: HTTP clients refuse to send custom Connection tokens.
      const { port } = new URL(local.url);
      const socket = connect(Number(port), '127.0.0.1');
      socket.write(
        `GET /anything?q=1 HTTP/1.1\r\nHost: ${new URL(local.url).host}\r\nAuthorization: Bearer ${key}\r\n` +
          'X-Forwarded-For: 10.9.9.9\r\nX-Tollgate-Customer: spoofed\r\nX-Custom: kept\r\n' +
          'Connection: close, x-drop-me\r\nX-Drop-Me: 1\r\n\r\n',
      );
      let raw = '';
      socket.on('data', (d) => {
        raw += String(d);
      });
      await once(socket, 'end');
      const [head] = raw.split('\r\n\r\n');
      expect(head).toMatch(/^HTTP\/1.1 200/);
      expect(head).toContain('x-upstream: yes');
      expect(head).not.toContain('timeout=5');
      const requestId = /x-request-id: (\S+)/.exec(head ?? '')?.[1];
      expect(seen.authorization).toBeUndefined();
      expect(seen['x-custom']).toBe('kept');
      expect(seen['x-drop-me']).toBeUndefined();
      expect(seen['x-forwarded-for']).toBe('10.9.9.9, 127.0.0.1');
      expect(seen['x-forwarded-proto']).toBe('http');
      expect(seen['x-forwarded-host']).toBe(new URL(local.url).host);
      expect(seen['x-tollgate-customer']).toBe('cus_proxy');
      expect(seen['x-request-id']).toBe(requestId);
    } finally {
      await local.close();
      await echo.close();
    }
  });

  it('streams a 20 MB body both ways (chunked upload)', async () => {
    const size = 20 * 1024 * 1024;
    const block = Buffer.alloc(1024 * 1024);
    for (let i = 0; i < block.length; i++) block[i] = i % 251;
    let sent = 0;
    const body = new Readable({
      read() {
        if (sent >= size) {
          this.push(null);
          return;
        }
        sent += block.length;
        this.push(block);
      },
    });
    const res = await request(`${gw.url}/v1/echo`, {
      method: 'POST',
      headers: { 'x-api-key': key, 'content-type': 'application/octet-stream' },
      body,
    });
    expect(res.statusCode).toBe(200);
    let received = 0;
    let ok = true;
    for await (const chunk of res.body as AsyncIterable<Buffer>) {
      for (let i = 0; i < chunk.length; i += 4099)
        if (chunk[i] !== ((received + i) % (1024 * 1024)) % 251) ok = false;
      received += chunk.length;
    }
    expect(received).toBe(size);
    expect(ok).toBe(true);
  });

  it('passes SSE through without buffering: chunks arrive before the stream ends', async () => {
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const sse = await startServer(async (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: {"n":1}\n\n');
      await gate;
      res.end('data: [DONE]\n\n');
    });
    const local = await startGateway(shared, {
      upstream: sse.url,
      routes: [{ method: 'GET', path: '/events' }],
    });
    try {
      const res = await request(`${local.url}/events`, { headers: { 'x-api-key': key } });
      expect(res.headers['content-type']).toBe('text/event-stream');
      const iterator = (res.body as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
      const first = await iterator.next();
      expect(String(first.value)).toContain('"n":1');
      release();
      let rest = '';
      for (let r = await iterator.next(); !r.done; r = await iterator.next()) rest += String(r.value);
      expect(rest).toContain('[DONE]');
    } finally {
      release();
      await local.close();
      await sse.close();
    }
  });

  it('answers 502 when the upstream is down', async () => {
    const down = await startServer(() => {});
    const url = down.url;
    await down.close();
    const local = await startGateway(shared, { upstream: url, routes: [{ method: 'GET', path: '/x' }] });
    try {
      const res = await get(`${local.url}/x`, key);
      expect(res.status).toBe(502);
      expect(res.headers['content-type']).toBe('application/problem+json');
      expect(res.json()).toMatchObject({
        status: 502,
        type: 'https://tollgate.dev/problems/upstream-unavailable',
      });
    } finally {
      await local.close();
    }
  });

  it('answers 504 when the upstream is slower than timeoutMs', async () => {
    // The upstream never answers (its connections are closed when the test ends), so however
    // slow a busy machine is, the gateway's 100 ms timeout is the only thing that can end this.
    const slow = await startServer(() => {});
    const local = await startGateway(shared, {
      upstream: { url: slow.url, timeoutMs: 100 },
      routes: [{ method: 'GET', path: '/slow' }],
    });
    try {
      const res = await get(`${local.url}/slow`, key);
      expect(res.status).toBe(504);
      expect(res.json()).toMatchObject({
        status: 504,
        type: 'https://tollgate.dev/problems/upstream-timeout',
      });
    } finally {
      await local.close();
      await slow.close();
    }
  });

  it('cancels the upstream request when the client aborts', async () => {
    let upstreamClosed: Promise<unknown> = Promise.resolve();
    let started: () => void = () => {};
    const begun = new Promise<void>((r) => {
      started = r;
    });
    const hang = await startServer((req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: start\n\n');
      upstreamClosed = once(req.socket, 'close');
      started();
    });
    const local = await startGateway(shared, {
      upstream: hang.url,
      routes: [{ method: 'GET', path: '/hang' }],
    });
    try {
      const controller = new AbortController();
      const res = await request(`${local.url}/hang`, {
        headers: { 'x-api-key': key },
        signal: controller.signal,
      });
      await begun;
      const iterator = (res.body as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
      await iterator.next();
      controller.abort();
      await expect(iterator.next()).rejects.toThrow();
      await upstreamClosed; // resolves only if the gateway closed its upstream connection
    } finally {
      await local.close();
      await hang.close();
    }
  });

  it('accepts uploads sent with Expect: 100-continue (as curl does above 1 MB)', async () => {
    const res = await request(`${gw.url}/v1/echo`, {
      method: 'POST',
      headers: { 'x-api-key': key, 'content-type': 'text/plain', expect: '100-continue' },
      body: 'hello',
    }).catch(() => null);
    // undici itself refuses to send Expect; use a raw socket when it does.
    if (res === null) {
      const { port, host } = new URL(gw.url);
      const socket = connect(Number(port), '127.0.0.1');
      socket.write(
        `POST /v1/echo HTTP/1.1\r\nHost: ${host}\r\nx-api-key: ${key}\r\nContent-Type: text/plain\r\n` +
          'Content-Length: 5\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n',
      );
      let raw = '';
      socket.on('data', (d) => {
        raw += String(d);
        if (raw.includes('100 Continue') && !raw.includes('hello')) socket.write('hello');
      });
      await once(socket, 'end');
      expect(raw).toContain('HTTP/1.1 200');
      expect(raw.endsWith('hello')).toBe(true);
    } else {
      expect(res.statusCode).toBe(200);
      expect(await res.body.text()).toBe('hello');
    }
  });

  it('reload swaps routes without dropping a request in flight', async () => {
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => {
      release = r;
    });
    let arrived: () => void = () => {};
    const reachedUpstream = new Promise<void>((r) => {
      arrived = r;
    });
    const slow = await startServer(async (req, res) => {
      if (req.url?.startsWith('/wait')) {
        arrived();
        await gate;
      }
      res.end(`served ${req.url}`);
    });
    const local = await startGateway(shared, {
      upstream: slow.url,
      routes: [{ method: 'GET', path: '/wait' }],
    });
    try {
      const inFlight = get(`${local.url}/wait`, key);
      await reachedUpstream; // the request is in flight at the upstream before the reload
      const { resolveConfig } = await import('../../src/config/index.ts');
      local.gateway.reload(
        resolveConfig(
          { upstream: slow.url, routes: [{ method: 'GET', path: '/new' }] },
          'reload.ts',
          process.cwd(),
        ),
      );
      expect((await get(`${local.url}/new`, key)).text).toBe('served /new');
      expect((await get(`${local.url}/wait`, key)).status).toBe(404);
      release();
      const finished = await inFlight;
      expect(finished.status).toBe(200);
      expect(finished.text).toBe('served /wait');
    } finally {
      release();
      await local.close();
      await slow.close();
    }
  });

  it('counts requests by status in Prometheus metrics', async () => {
    await get(`${gw.url}/v1/items/metrics`, key);
    await get(`${gw.url}/nowhere`, key);
    const text = await gw.gateway.metrics.registry.metrics();
    expect(text).toMatch(/tollgate_gateway_requests_total\{status="200"\} \d+/);
    expect(text).toMatch(/tollgate_gateway_requests_total\{status="404"\} \d+/);
    expect(text).toContain('tollgate_gateway_request_duration_seconds_bucket');
  });
});
