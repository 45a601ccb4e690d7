import type { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../util/log.ts';
import { createConsoleApp } from './hono.ts';

function app() {
  const console = createConsoleApp(silentLogger, {
    limits: () => ({ defaultBytes: 1024, routes: { '/api/v1/events': 4096 }, jsonDepth: 8 }),
  });
  const echo = (c: { req: { text(): Promise<string> }; json(v: unknown): Response }) =>
    c.req.text().then((t) => c.json({ bytes: t.length }));
  console.post('/api/portal/login', echo as never);
  console.post('/api/v1/events', echo as never);
  return console as Hono;
}

/** A body that arrives in chunks, without a Content-Length (chunked upload). */
function streamed(chunks: number, size: number): ReadableStream<Uint8Array> {
  let sent = 0;
  return new ReadableStream({
    pull(controller) {
      if (sent++ >= chunks) controller.close();
      else controller.enqueue(new Uint8Array(size).fill(32));
    },
  });
}

describe('console body guard', () => {
  it('refuses a declared body over the route limit with a 413 naming the limit', async () => {
    const r = await app().request('/api/portal/login', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-length': String(300 * 1024 * 1024) },
      body: '{}',
    });
    expect(r.status).toBe(413);
    expect(r.headers.get('content-type')).toBe('application/problem+json');
    const body = (await r.json()) as { limit: number; detail: string };
    expect(body.limit).toBe(1024);
    expect(body.detail).toContain('1 KiB');
    expect(body.detail).toContain('console.limits.bodyBytes');
  });

  it('counts a streamed body while it arrives and stops at the limit', async () => {
    let pulled = 0;
    const source = streamed(1000, 256);
    const counted = source.pipeThrough(
      new TransformStream({
        transform(chunk, controller) {
          pulled++;
          controller.enqueue(chunk);
        },
      }),
    );
    const r = await app().request('/api/portal/login', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: counted,
      duplex: 'half',
    } as RequestInit);
    expect(r.status).toBe(413);
    expect(pulled).toBeLessThan(20);
  });

  it('gives ingest its larger limit and other routes the default', async () => {
    const body = JSON.stringify({ data: 'x'.repeat(2000) });
    const small = await app().request('/api/portal/login', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    });
    expect(small.status).toBe(413);
    const ingest = await app().request('/api/v1/events', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    });
    expect(ingest.status).toBe(200);
    expect(await ingest.json()).toEqual({ bytes: body.length });
  });

  it('refuses JSON nested deeper than the limit with a 400 naming it', async () => {
    const r = await app().request('/api/portal/login', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: `${'['.repeat(9)}${']'.repeat(9)}`,
    });
    expect(r.status).toBe(400);
    expect(((await r.json()) as { limit: number }).limit).toBe(8);
  });
});
