import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { OpenAPIHono } from '@hono/zod-openapi';
import { Scalar } from '@scalar/hono-api-reference';
import { problems } from '../http/problem.ts';

/**
 * The API reference page, rendered by Scalar (@scalar/hono-api-reference) from the OpenAPI
 * document beside it. The middleware loads Scalar's browser script from a CDN unless told
 * otherwise; Tollgate must work offline and behind firewalls, so the page points at a copy of
 * the standalone script served by this listener. In the repository that is
 * `node_modules/@scalar/api-reference/dist/browser/standalone.js`; the package build copies it to
 * `dist/admin/scalar-standalone.js` (scripts/build.ts).
 */
const SCRIPT_CANDIDATES = [
  new URL('./scalar-standalone.js', import.meta.url),
  new URL('../../node_modules/@scalar/api-reference/dist/browser/standalone.js', import.meta.url),
];

let script: Buffer | null = null;
function standaloneScript(): Buffer | null {
  if (script) return script;
  for (const candidate of SCRIPT_CANDIDATES) {
    const path = fileURLToPath(candidate);
    if (existsSync(path)) {
      script = readFileSync(path);
      return script;
    }
  }
  return null;
}

export function mountApiReference(
  app: OpenAPIHono,
  options: { path: string; title: string; documentUrl: string; scriptUrl: string },
): void {
  app.get(`${options.path}/scalar.js`, (c) => {
    const body = standaloneScript();
    if (!body) {
      throw problems.notFound(
        'The API reference script is not installed (@scalar/api-reference); the OpenAPI document is at openapi.json.',
      );
    }
    return c.body(new Uint8Array(body), 200, {
      'content-type': 'text/javascript; charset=utf-8',
      'cache-control': 'public, max-age=86400',
    });
  });
  app.get(
    options.path,
    Scalar({
      url: options.documentUrl,
      pageTitle: options.title,
      cdn: options.scriptUrl,
      hideClientButton: true,
    }),
  );
}
