import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../config/index.ts';
import { dataDirOf } from './data-dir.ts';
import { operationsOf, renderConfig, upstreamOf } from './init-template.ts';

const dir = mkdtempSync(join(tmpdir(), 'tollgate-init-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const document = {
  openapi: '3.1.0',
  paths: {
    '/items': { get: { summary: 'List\n items' }, post: {}, parameters: [] },
    '/items/{id}': { delete: { summary: 'Remove */ one' } },
    'not-a-path': { get: {} },
  },
};

async function load(text: string) {
  const file = join(dir, `config-${Math.random().toString(36).slice(2)}.ts`);
  writeFileSync(file, text);
  return loadConfig(file);
}

describe('tollgate init: the config it writes', () => {
  it('lists every operation of the document, in order, and skips what is not one', () => {
    expect(operationsOf(document)).toEqual([
      { method: 'GET', path: '/items', summary: 'List items' },
      { method: 'POST', path: '/items', summary: undefined },
      { method: 'DELETE', path: '/items/{id}', summary: 'Remove */ one' },
    ]);
    expect(operationsOf({})).toEqual([]);
  });

  it('is a valid config: routes from the operations, a Free and a paid Pro plan', async () => {
    writeFileSync(join(dir, 'openapi.json'), JSON.stringify(document));
    const config = await load(
      renderConfig({
        name: `Bob's "API" */ v2`,
        upstream: 'http://127.0.0.1:3000',
        openapi: './openapi.json',
        operations: operationsOf(document),
      }),
    );
    expect(config.name).toBe(`Bob's "API" */ v2`);
    expect(config.routes.map((r) => `${r.method} ${r.path}`)).toEqual([
      'GET /items',
      'POST /items',
      'DELETE /items/{id}',
    ]);
    // Every route is sold as the plans' API requests: counted against Free's quota, refused to a
    // key without a plan (a route without a feature would be open to any key).
    expect(new Set(config.routes.map((r) => r.feature))).toEqual(new Set(['api_requests']));
    // So is an operation added to the document later, without a route of its own.
    expect(config.gateway.defaultFeature).toBe('api_requests');
    expect(config.plans.map((p) => p.key)).toEqual(['free', 'pro']);
    const pro = config.plans[1]!;
    expect(JSON.stringify(pro)).toContain('"29.00"');
    expect(config.billing.rail).toBe('sandbox');
  });

  it('without a document, every path of the upstream is a route', async () => {
    const config = await load(renderConfig({ name: 'x', upstream: 'http://127.0.0.1:3000', operations: [] }));
    expect(config.routes.map((r) => `${r.method} ${r.path}`)).toEqual([
      'GET /*',
      'POST /*',
      'PUT /*',
      'PATCH /*',
      'DELETE /*',
    ]);
    expect(new Set(config.routes.map((r) => r.feature))).toEqual(new Set(['api_requests']));
  });

  it.each([
    [{}, null],
    [{ servers: [] }, null],
    [
      { servers: [{ url: 'https://api.example.com/v1/' }, { url: 'http://other' }] },
      'https://api.example.com/v1',
    ],
    [{ servers: [{ url: '/v2' }] }, 'http://127.0.0.1:3000/v2'],
    [{ servers: [{ url: '/' }] }, 'http://127.0.0.1:3000'],
    [
      { servers: [{ url: 'https://{region}.example.com', variables: { region: { default: 'eu' } } }] },
      'https://eu.example.com',
    ],
    [{ servers: [{ url: 'https://{region}.example.com' }] }, null],
    [{ servers: [{ url: 'ftp://files.example.com' }] }, null],
  ])('proposes the upstream from the document’s servers: %j → %s', (document, expected) => {
    expect(upstreamOf(document, 'http://127.0.0.1:3000')).toBe(expected);
  });
});

describe('the data directory rule', () => {
  it('is --data-dir when given, else .tollgate next to the config file', () => {
    expect(dataDirOf({ config: '/srv/api/tollgate.config.ts' })).toBe('/srv/api/.tollgate');
    expect(dataDirOf({ config: '/srv/api/tollgate.config.ts', dataDir: '/var/lib/tg' })).toBe('/var/lib/tg');
  });
});
