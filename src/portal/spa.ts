import { existsSync, readFileSync, statSync } from 'node:fs';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Hono } from 'hono';

/** Where `npm run build:web` puts the portal SPA. */
export const DEFAULT_WEB_DIR = resolve(fileURLToPath(new URL('../../dist/web', import.meta.url)));

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.woff2': 'font/woff2',
  '.map': 'application/json',
};

const MISSING_BUILD = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Portal not built</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:4rem auto;padding:0 1rem;color:#111}code{background:#f3f4f6;padding:.1rem .3rem;border-radius:4px}</style></head>
<body><h1>The developer portal is not built yet</h1><p>Run <code>npm run build:web</code> and reload this page.
The portal API is already available under <code>/api/portal</code>.</p></body></html>`;

/**
 * Serves the built SPA at `/`: files from the build directory (hashed assets cached for a year),
 * and `index.html` for every other path that is not an API path (client-side routing).
 */
export function mountSpa(app: Hono, webDir = DEFAULT_WEB_DIR): void {
  const root = resolve(webDir);
  app.get('*', async (c, next) => {
    const path = c.req.path;
    // Other modules' routes may be registered after this one: let them answer.
    if (path.startsWith('/api/') || path === '/healthz' || path === '/readyz' || path === '/metrics') {
      return next();
    }
    const index = join(root, 'index.html');
    if (!existsSync(index)) return c.html(MISSING_BUILD, 200);
    const file = normalize(join(root, decodeURIComponent(path)));
    if (file.startsWith(root + sep) && existsSync(file) && statSync(file).isFile()) {
      const type = TYPES[extname(file)] ?? 'application/octet-stream';
      const immutable = file.startsWith(join(root, 'assets') + sep);
      return c.body(readFileSync(file), 200, {
        'content-type': type,
        'cache-control': immutable ? 'public, max-age=31536000, immutable' : 'no-cache',
      });
    }
    if (extname(path) && path.startsWith('/assets/')) return next();
    return c.body(readFileSync(index), 200, { 'content-type': TYPES['.html']!, 'cache-control': 'no-cache' });
  });
}
