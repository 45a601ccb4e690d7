import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTollgate, type Tollgate } from '../../src/app.ts';
import { createProgram } from '../../src/cli/program.ts';
import { mountCliRoute } from '../../src/cli/remote.ts';
import { createLogger } from '../../src/util/log.ts';
import { catalogConfig } from '../entitlements/fixtures.ts';
import { tempDataDir } from '../support/tollgate.ts';

/**
 * Issue 13: every route under /api/admin is in /api/admin/openapi.json (21 were missing:
 * invoices, credits, billing runs, webhooks …), and the reference page renders it with Scalar
 * from a script this listener serves (no CDN: installations run offline).
 */
let tollgate: Tollgate;

beforeAll(async () => {
  const config = catalogConfig();
  config.admin.token = 'admin-token-for-tests-0123456789';
  tollgate = await startTollgate({
    config,
    database: ':memory:',
    dataDir: tempDataDir('admin-openapi-test'),
    role: 'console',
    consolePort: 0,
    log: createLogger({ level: 'silent' }),
    // As `tollgate dev`/`start` mount it (src/cli/server.ts): the CLI's forwarding route.
    routes: (app, adminRegistry) =>
      mountCliRoute(app, {
        adminToken: config.admin.token!,
        tollgate: () => tollgate,
        createProgram,
        adminRegistry,
      }),
  });
}, 120_000);
afterAll(async () => tollgate?.stop());

/** The reference page, its script and the document itself are the only undocumented routes. */
const SELF = new Set(['/openapi.json', '/docs', '/docs/scalar.js']);
const METHODS = new Set(['GET', 'POST', 'PUT', 'PATCH', 'DELETE']);
/** The dev mailbox (src/notify/http.ts), a development convenience kept out of the document. */
const NOT_YET_CONVERTED = new Set(['GET /mailbox']);

it('every route mounted under /api/admin is in the admin OpenAPI document', async () => {
  const res = await tollgate.consoleApp.request('/api/admin/openapi.json');
  const doc = (await res.json()) as { paths: Record<string, Record<string, unknown>> };
  const documented = new Set(
    Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`),
    ),
  );
  const mounted = new Set(
    tollgate.consoleApp.routes
      .filter((r) => METHODS.has(r.method) && r.path.startsWith('/api/admin/'))
      .map((r) => ({ method: r.method, path: r.path.slice('/api/admin'.length).replace(/:(\w+)/g, '{$1}') }))
      .filter((r) => !SELF.has(r.path))
      .map((r) => `${r.method} ${r.path}`),
  );
  // Billing's routes are among them (they were missing before).
  expect(mounted).toContain('GET /invoices/{id}');
  expect(mounted).toContain('POST /credits/{customerId}/grants');
  // The CLI's forwarding route (issue 16), mounted by `tollgate dev`/`start`.
  expect(mounted).toContain('POST /cli');
  expect(documented).toContain('POST /cli');
  expect([...mounted].filter((route) => !documented.has(route) && !NOT_YET_CONVERTED.has(route))).toEqual([]);
});

it('serves the reference page with a local script, no CDN', async () => {
  const page = await tollgate.consoleApp.request('/api/admin/docs');
  expect(page.status).toBe(200);
  const html = await page.text();
  expect(html).toContain('/api/admin/openapi.json');
  const scripts = [...html.matchAll(/<script[^>]*\ssrc="([^"]+)"/g)].map((m) => m[1]);
  expect(scripts).toEqual(['/api/admin/docs/scalar.js']);
  expect(html).not.toMatch(/https?:\/\/(cdn|unpkg|fonts)\./);
  const script = await tollgate.consoleApp.request('/api/admin/docs/scalar.js');
  expect(script.status).toBe(200);
  expect(script.headers.get('content-type')).toContain('javascript');
  expect((await script.arrayBuffer()).byteLength).toBeGreaterThan(100_000);
});
