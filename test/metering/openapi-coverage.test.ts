import { afterAll, beforeAll, expect, it } from 'vitest';
import { ADMIN_TOKEN, type OmStack, startOmStack } from './om-stack.ts';

/**
 * Issue 13: every route of the OpenMeter-compatible API under /api/v1 is in the document served
 * at /api/v1/openapi.json (with its parameters and answers), and the reference page renders it
 * from a script this listener serves, as the admin API's does.
 */
let stack: OmStack;

beforeAll(async () => {
  stack = await startOmStack();
}, 120_000);
afterAll(async () => stack?.stop());

const SELF = new Set(['/openapi.json', '/docs', '/docs/scalar.js']);
const METHODS = new Set(['GET', 'POST', 'PUT', 'PATCH', 'DELETE']);

interface Doc {
  servers: { url: string }[];
  paths: Record<
    string,
    Record<string, { parameters?: { name: string; in: string }[]; responses: Record<string, unknown> }>
  >;
}

async function documentOf(): Promise<Doc> {
  const res = await fetch(`${stack.url}/api/v1/openapi.json`);
  expect(res.status).toBe(200);
  return (await res.json()) as Doc;
}

it('every route mounted under /api/v1 is in the metering OpenAPI document', async () => {
  const doc = await documentOf();
  expect(doc.servers).toEqual([{ url: '/api/v1' }]);
  const documented = new Set(
    Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`),
    ),
  );
  const mounted = new Set(
    stack.tollgate.consoleApp.routes
      .filter((r) => METHODS.has(r.method) && r.path.startsWith('/api/v1/'))
      .map((r) => ({ method: r.method, path: r.path.slice('/api/v1'.length).replace(/:(\w+)/g, '{$1}') }))
      .filter((r) => !SELF.has(r.path))
      .map((r) => `${r.method} ${r.path}`),
  );
  // Every resource the official client calls is among them.
  for (const route of [
    'POST /events',
    'GET /events',
    'GET /meters',
    'POST /meters',
    'GET /meters/{idOrSlug}/query',
    'POST /meters/{idOrSlug}/query',
    'GET /meters/{idOrSlug}/group-by/{groupByKey}/values',
    'POST /subjects',
    'DELETE /subjects/{idOrKey}',
    'GET /customers',
    'PUT /customers/{idOrKey}',
  ]) {
    expect(mounted).toContain(route);
  }
  expect([...mounted].filter((route) => !documented.has(route))).toEqual([]);
  expect([...documented].filter((route) => !mounted.has(route))).toEqual([]);
});

it("documents a query's parameters and its CSV answer", async () => {
  const query = (await documentOf()).paths['/meters/{idOrSlug}/query']?.get;
  const names = (query?.parameters ?? []).map((p) => `${p.in} ${p.name}`);
  expect(names).toEqual(
    expect.arrayContaining([
      'path idOrSlug',
      'query from',
      'query to',
      'query windowSize',
      'query subject',
      'query groupBy',
    ]),
  );
  const answer = query?.responses['200'] as { content: object } | undefined;
  expect(Object.keys(answer?.content ?? {})).toEqual(['application/json', 'text/csv']);
  expect(Object.keys(query?.responses ?? {})).toEqual(expect.arrayContaining(['400', '401', '404']));
});

it('serves the document without the token, and still guards the API', async () => {
  expect((await fetch(`${stack.url}/api/v1/meters`)).status).toBe(401);
  const page = await fetch(`${stack.url}/api/v1/docs`);
  expect(page.status).toBe(200);
  const html = await page.text();
  expect(html).toContain('/api/v1/openapi.json');
  const scripts = [...html.matchAll(/<script[^>]*\ssrc="([^"]+)"/g)].map((m) => m[1]);
  expect(scripts).toEqual(['/api/v1/docs/scalar.js']);
  const script = await fetch(`${stack.url}/api/v1/docs/scalar.js`);
  expect(script.status).toBe(200);
  expect(script.headers.get('content-type')).toContain('javascript');
  const authed = await fetch(`${stack.url}/api/v1/meters`, {
    headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
  });
  expect(authed.status).toBe(200);
});
