import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runInit } from './init.ts';

/** `tollgate init --yes` in an empty project, with the document given as a URL or a path. */
const root = mkdtempSync(join(tmpdir(), 'tollgate-init-run-'));
let server: Server;
let base = '';

const DOCUMENT_30 = [
  'openapi: 3.0.3',
  'info: { title: Pets, version: "1" }',
  'servers: [{ url: "http://127.0.0.1:3000/v1" }]',
  'paths:',
  '  /pets: { get: { summary: List pets }, post: { summary: Add a pet } }',
  '  /pets/{petId}: { get: {}, delete: {} }',
  '',
].join('\n');
const DOCUMENT_31 = JSON.stringify({
  openapi: '3.1.0',
  info: { title: 'x', version: '1' },
  paths: { '/a': { get: {} } },
});

beforeAll(async () => {
  server = createServer((req, res) => {
    if (req.url === '/pets.yaml') res.end(DOCUMENT_30);
    else if (req.url === '/a.json') res.end(DOCUMENT_31);
    else if (req.url === '/not-openapi') res.end('hello: world');
    else res.writeHead(404).end('not here');
  });
  await new Promise<void>((ready) => server.listen(0, '127.0.0.1', ready));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((done) => server.close(done));
  rmSync(root, { recursive: true, force: true });
});

function project(name: string, files: Record<string, string> = {}): string {
  const dir = join(root, name);
  mkdirSync(dir);
  for (const [file, text] of Object.entries(files)) writeFileSync(join(dir, file), text);
  return dir;
}

const configOf = (dir: string) => readFileSync(join(dir, 'tollgate.config.ts'), 'utf8');

describe('tollgate init --yes', () => {
  it('downloads a YAML document, takes the upstream from its servers, and refuses a second run', async () => {
    const dir = project('yaml-url');
    await runInit(join(dir, 'tollgate.config.ts'), { yes: true, openapi: `${base}/pets.yaml` });
    expect(readFileSync(join(dir, 'openapi.yaml'), 'utf8')).toBe(DOCUMENT_30);
    const config = configOf(dir);
    expect(config).toContain("'http://127.0.0.1:3000/v1'");
    expect(config).toContain("openapi: './openapi.yaml'");
    expect(config).toContain("{ method: 'DELETE', path: '/pets/{petId}', feature: 'api_requests' }");
    await expect(runInit(join(dir, 'tollgate.config.ts'), { yes: true })).rejects.toThrow(/exists already/);
    expect(configOf(dir)).toBe(config);
  });

  it('downloads a JSON 3.1 document without servers: the default upstream, or --upstream', async () => {
    const dir = project('json-url');
    await runInit(join(dir, 'tollgate.config.ts'), {
      yes: true,
      openapi: `${base}/a.json`,
      upstream: 'https://api.example.com/',
    });
    expect(existsSync(join(dir, 'openapi.json'))).toBe(true);
    expect(configOf(dir)).toContain("?? 'https://api.example.com',");
  });

  it('never downloads over a different document already in the project', async () => {
    const dir = project('keeps-own', { 'openapi.yaml': 'openapi: 3.1.0\npaths: {}\n' });
    await expect(
      runInit(join(dir, 'tollgate.config.ts'), { yes: true, openapi: `${base}/pets.yaml` }),
    ).rejects.toThrow(/openapi\.yaml exists already and differs/);
    expect(readFileSync(join(dir, 'openapi.yaml'), 'utf8')).toBe('openapi: 3.1.0\npaths: {}\n');
    expect(existsSync(join(dir, 'tollgate.config.ts'))).toBe(false);
  });

  it.each([
    ['an answer that is not 200', '/missing', /cannot download .*HTTP 404/],
    ['a document without paths', '/not-openapi', /is not an OpenAPI document/],
  ])('writes nothing for %s', async (_case, path, message) => {
    const dir = project(`broken-${path.slice(1)}`);
    await expect(
      runInit(join(dir, 'tollgate.config.ts'), { yes: true, openapi: `${base}${path}` }),
    ).rejects.toThrow(message);
    expect(existsSync(join(dir, 'tollgate.config.ts'))).toBe(false);
    expect(existsSync(join(dir, '.gitignore'))).toBe(false);
  });

  it('names the reason when nothing listens at the URL, and writes nothing', async () => {
    const dir = project('unreachable');
    const closed = createServer();
    await new Promise<void>((ready) => closed.listen(0, '127.0.0.1', ready));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((done) => closed.close(done));
    await expect(
      runInit(join(dir, 'tollgate.config.ts'), { yes: true, openapi: `http://127.0.0.1:${port}/x.yaml` }),
    ).rejects.toThrow(/ECONNREFUSED/);
    expect(existsSync(join(dir, 'tollgate.config.ts'))).toBe(false);
  });

  it('checks --upstream before downloading anything', async () => {
    const dir = project('bad-upstream');
    await expect(
      runInit(join(dir, 'tollgate.config.ts'), {
        yes: true,
        openapi: `${base}/pets.yaml`,
        upstream: 'ftp://x',
      }),
    ).rejects.toThrow(/http:\/\/ or https:\/\//);
    expect(existsSync(join(dir, 'openapi.yaml'))).toBe(false);
  });
});
