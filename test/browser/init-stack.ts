import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTollgate, type Tollgate } from '../../src/app.ts';
import { renderConfig } from '../../src/cli/init-template.ts';
import { loadConfig } from '../../src/config/index.ts';
import { silentLogger } from '../../src/util/log.ts';

/**
 * What `tollgate init` writes for a one-route API (Free and Pro, no token prices), run as
 * `tollgate dev` runs it: the portal a new user sees first. Rate limits are lowered (Free 2,
 * Pro 3 a minute) so that a 429 is a few calls away.
 */
export interface InitStack {
  tollgate: Tollgate;
  consoleUrl: string;
  gatewayUrl: string;
  stop(): Promise<void>;
}

export async function startInitStack(): Promise<InitStack> {
  const work = mkdtempSync(join(tmpdir(), 'tollgate-init-portal-'));
  const api = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    const name = new URL(req.url ?? '/', 'http://x').searchParams.get('name');
    res.end(JSON.stringify({ hello: name ?? 'world' }));
  });
  await new Promise<void>((r) => api.listen(0, '127.0.0.1', r));
  const upstream = `http://127.0.0.1:${(api.address() as AddressInfo).port}`;
  writeFileSync(
    join(work, 'openapi.yaml'),
    'openapi: 3.1.0\ninfo: { title: Hello API, version: "1" }\npaths:\n  /hello:\n    get:\n      summary: Say hello\n      parameters: [{ name: name, in: query, schema: { type: string } }]\n      responses: { "200": { description: A greeting } }\n',
  );
  const configText = renderConfig({
    name: 'Hello API',
    upstream,
    openapi: './openapi.yaml',
    operations: [{ method: 'GET', path: '/hello', summary: 'Say hello' }],
  })
    .replace("rateLimit: { limit: 60, window: '1m' }", "rateLimit: { limit: 2, window: '1m' }")
    .replace("rateLimit: { limit: 600, window: '1m' }", "rateLimit: { limit: 3, window: '1m' }");
  writeFileSync(join(work, 'tollgate.config.ts'), configText);
  const tollgate = await startTollgate({
    config: await loadConfig(join(work, 'tollgate.config.ts')),
    dataDir: join(work, '.tollgate'),
    gatewayPort: 0,
    consolePort: 0,
    dev: true,
    log: silentLogger,
  });
  return {
    tollgate,
    consoleUrl: tollgate.consoleUrl ?? '',
    gatewayUrl: tollgate.gatewayUrl ?? '',
    async stop() {
      await tollgate.stop();
      await new Promise((r) => api.close(r));
      rmSync(work, { recursive: true, force: true });
    },
  };
}
