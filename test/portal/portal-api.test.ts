import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveConfig } from '../../src/config/index.ts';
import { createConsoleApp } from '../../src/http/hono.ts';
import { KeysService } from '../../src/keys/index.ts';
import { createPortal, type PortalPorts } from '../../src/portal/index.ts';
import { keysPort } from '../../src/portal/module-adapters/keys-port.ts';
import { memoryChangeFeed, migrate, openPGliteStore, type Store } from '../../src/store/index.ts';
import { ManualClock } from '../../src/util/clock.ts';
import { silentLogger } from '../../src/util/log.ts';
import { PortalClient } from './client.ts';

const config = resolveConfig(
  {
    name: 'Test API',
    upstream: 'http://127.0.0.1:1',
    meters: [{ slug: 'requests', eventType: 'request', aggregation: 'COUNT', groupBy: { key: '$.key' } }],
    features: [{ key: 'api_requests', name: 'API requests', meter: 'requests' }],
    plans: [
      {
        key: 'free',
        name: 'Free',
        rateCards: [
          { key: 'requests', feature: 'api_requests', entitlement: { type: 'metered', limit: 100 } },
        ],
      },
      {
        key: 'pro',
        name: 'Pro',
        rateCards: [
          { key: 'base', price: { type: 'flat', amount: '49.00' } },
          { key: 'requests', feature: 'api_requests', entitlement: { type: 'metered', limit: 1000 } },
        ],
      },
      {
        key: 'secret',
        name: 'Secret',
        public: false,
        rateCards: [{ key: 'base', price: { type: 'flat', amount: '1.00' } }],
      },
    ],
    portal: { branding: { name: 'Acme', primaryColor: '#112233' } },
    // The test client stands behind one proxy hop: its X-Forwarded-For is the client address.
    console: { trustProxy: 1 },
  },
  'test.config.ts',
  '/tmp',
);

let store: Store;
const app = createConsoleApp(silentLogger);
const clock = new ManualClock('2026-03-10T12:00:00Z');
const ports: PortalPorts = {};

beforeAll(async () => {
  store = await openPGliteStore();
  await migrate(store);
  ports.keys = keysPort(new KeysService({ store, changes: memoryChangeFeed(), clock, config }));
  createPortal(app, {
    config: () => config,
    store,
    clock,
    log: silentLogger,
    adminToken: 'admin-token-0123456789',
    ports,
    gatewayUrl: () => 'http://127.0.0.1:9',
    webDir: '/nonexistent',
    mode: 'dev',
  });
});
afterAll(async () => {
  await store.close();
});

describe('portal API document', () => {
  it('lists every portal route in /api/portal/openapi.json', async () => {
    const r = await new PortalClient(app).get('/api/portal/openapi.json');
    expect(r.status).toBe(200);
    const paths = r.json.paths as Record<string, Record<string, unknown>>;
    const operations = Object.entries(paths).flatMap(([path, ops]) =>
      Object.keys(ops).map((m) => `${m} ${path}`),
    );
    expect(operations).toHaveLength(47);
    expect(operations).toEqual(
      expect.arrayContaining([
        'post /signup',
        'post /verify',
        'post /login',
        'post /keys/{id}/roll',
        'put /spend-cap',
        'get /usage',
        'get /webhook-endpoints',
        'post /webhook-endpoints/{id}/enable',
      ]),
    );
  });
});

describe('portal auth', () => {
  it('serves branding and sets a CSRF cookie', async () => {
    const client = new PortalClient(app);
    const r = await client.get('/api/portal/config');
    expect(r.status).toBe(200);
    expect(r.json.branding).toEqual({ name: 'Acme', logoUrl: null, primaryColor: '#112233' });
    expect(r.json.services.keys).toBe(true);
    expect(r.json.services.billing).toBe(false);
    expect(client.cookies.get('tg_csrf')).toBe(r.json.csrfToken);
  });

  it('signs up through the mailed link, with an HttpOnly SameSite=Lax session cookie, storing only hashes', async () => {
    const client = new PortalClient(app);
    await client.get('/api/portal/config');
    const r = await client.post('/api/portal/signup', {
      email: 'ada@example.com',
      name: 'Ada',
      password: 'a long passphrase',
      organisation: 'Analytical Engines',
    });
    expect(r.status).toBe(202);
    expect(r.json).toEqual({ sent: true });
    // No session and no account before the address is confirmed.
    expect(client.cookies.has('tg_session')).toBe(false);
    expect((await client.get('/api/portal/me')).status).toBe(401);
    const mail = await client.waitForMail('ada@example.com', /^Confirm your email address/);
    const link = /\/verify\?token=([\w-]+)/.exec(mail.text)![1]!;
    expect(await store.query(`select id from portal_users where email = 'ada@example.com'`)).toEqual([]);
    const pending = await store.query<{ token_hash: string; password_hash: string }>(
      `select token_hash, password_hash from portal_signups where email = 'ada@example.com'`,
    );
    expect(pending).toHaveLength(1);
    expect(pending[0]!.token_hash).not.toBe(link);
    expect(pending[0]!.password_hash).toMatch(/^scrypt\$/);

    const verified = await client.post('/api/portal/verify', { token: link });
    expect(verified.status).toBe(200);
    const cookie = verified.headers.getSetCookie().find((c) => c.startsWith('tg_session='))!;
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/SameSite=Lax/);
    expect(cookie).not.toMatch(/Secure/);
    const token = client.cookies.get('tg_session')!;
    const rows = await store.query<{ token_hash: string }>('select token_hash from portal_sessions');
    expect(rows.some((row) => row.token_hash === token)).toBe(false);
    const users = await store.query<{ password_hash: string }>(
      `select password_hash from portal_users where email = 'ada@example.com'`,
    );
    expect(users[0]!.password_hash).toMatch(/^scrypt\$/);
    const me = await client.get('/api/portal/me');
    expect(me.json.user.email).toBe('ada@example.com');
    expect(me.json.organisation.name).toBe('Analytical Engines');
    expect(me.json.user.role).toBe('owner');
    // The link works once.
    const replay = new PortalClient(app);
    await replay.get('/api/portal/config');
    expect((await replay.post('/api/portal/verify', { token: link })).status).toBe(400);

    const again = await new PortalClient(app).signup('ada2@example.com', 'Other').catch((e) => e);
    expect(again).not.toBeInstanceOf(Error);
    // An address with an account gets the same answer; its owner gets a note.
    const stranger = new PortalClient(app);
    await stranger.get('/api/portal/config');
    const dup = await stranger.post('/api/portal/signup', {
      email: 'ADA@example.com',
      name: 'Ada',
      password: 'a long passphrase',
    });
    expect(dup.status).toBe(202);
    expect(dup.json).toEqual({ sent: true });
    expect((await client.waitForMail('ADA@example.com', /tried to sign up/)).text).toMatch(/forgot-password/);
  });

  it('sets Secure on the cookie behind https', async () => {
    const client = new PortalClient(app);
    await client.get('/api/portal/config');
    const r = await client.request(
      'POST',
      '/api/portal/signup',
      { email: 'sec@example.com', name: 'Sec', password: 'a long passphrase' },
      { 'x-forwarded-proto': 'https' },
    );
    expect(r.status).toBe(202);
    const mail = await client.waitForMail('sec@example.com', /^Confirm your email address/);
    const verified = await client.request(
      'POST',
      '/api/portal/verify',
      { token: /\/verify\?token=([\w-]+)/.exec(mail.text)![1] },
      { 'x-forwarded-proto': 'https' },
    );
    expect(verified.status).toBe(200);
    expect(verified.headers.getSetCookie().find((c) => c.startsWith('tg_session='))).toMatch(/Secure/);
  });

  it('refuses mutating requests without the CSRF header, and changes nothing', async () => {
    const client = new PortalClient(app);
    await client.signup('csrf@example.com', 'Csrf Org');
    client.csrf = false;
    const r = await client.post('/api/portal/keys', { name: 'sneaky' });
    expect(r.status).toBe(403);
    expect(r.json.type).toBe('https://tollgate.dev/problems/csrf-token-mismatch');
    const wrong = await client.request(
      'POST',
      '/api/portal/keys',
      { name: 'sneaky' },
      { 'x-csrf-token': 'x'.repeat(43) },
    );
    expect(wrong.status).toBe(403);
    client.csrf = true;
    expect((await client.get('/api/portal/keys')).json.keys).toEqual([]);
    // Logging in without the header is refused too (login CSRF).
    const fresh = new PortalClient(app);
    fresh.csrf = false;
    await fresh.get('/api/portal/config');
    const login = await fresh.post('/api/portal/login', {
      email: 'csrf@example.com',
      password: 'correct horse battery',
    });
    expect(login.status).toBe(403);
  });

  it('logs in and out; a logged-out session no longer works', async () => {
    const owner = new PortalClient(app);
    await owner.signup('bob@example.com', 'Bob Org');
    const other = new PortalClient(app, '10.0.0.2');
    await other.get('/api/portal/config');
    const bad = await other.post('/api/portal/login', {
      email: 'bob@example.com',
      password: 'wrong password',
    });
    expect(bad.status).toBe(401);
    const ok = await other.post('/api/portal/login', {
      email: 'bob@example.com',
      password: 'correct horse battery',
    });
    expect(ok.status).toBe(200);
    expect((await other.get('/api/portal/me')).status).toBe(200);
    const stolen = other.cookies.get('tg_session')!;
    expect((await other.post('/api/portal/logout')).status).toBe(204);
    expect((await other.get('/api/portal/me')).status).toBe(401);
    other.cookies.set('tg_session', stolen);
    expect((await other.get('/api/portal/me')).status).toBe(401);
  });

  it('rate limits failed logins per email and IP', async () => {
    const owner = new PortalClient(app);
    await owner.signup('carol@example.com', 'Carol Org');
    const attacker = new PortalClient(app, '10.9.9.9');
    await attacker.get('/api/portal/config');
    for (let i = 0; i < 5; i++) {
      const r = await attacker.post('/api/portal/login', {
        email: 'carol@example.com',
        password: `guess ${i}`,
      });
      expect(r.status).toBe(401);
    }
    const blocked = await attacker.post('/api/portal/login', {
      email: 'carol@example.com',
      password: 'correct horse battery',
    });
    expect(blocked.status).toBe(429);
    expect(Number(blocked.headers.get('retry-after'))).toBeGreaterThan(0);
    // The owner from another address is not locked out.
    const elsewhere = new PortalClient(app, '10.0.0.3');
    await elsewhere.get('/api/portal/config');
    expect(
      (
        await elsewhere.post('/api/portal/login', {
          email: 'carol@example.com',
          password: 'correct horse battery',
        })
      ).status,
    ).toBe(200);
    // After the window the attacker's address may try again.
    clock.advance(16 * 60_000);
    const later = await attacker.post('/api/portal/login', {
      email: 'carol@example.com',
      password: 'correct horse battery',
    });
    expect(later.status).toBe(200);
  }, 120_000); // eight password hashes at OWASP's cost: seconds each on a busy machine

  it('resets a password through the emailed link (dev mailbox)', async () => {
    const user = new PortalClient(app);
    await user.signup('dan@example.com', 'Dan Org');
    const anon = new PortalClient(app);
    await anon.get('/api/portal/config');
    expect((await anon.post('/api/portal/password/forgot', { email: 'dan@example.com' })).status).toBe(202);
    expect((await anon.post('/api/portal/password/forgot', { email: 'nobody@example.com' })).status).toBe(
      202,
    );
    const text = (await anon.waitForMail('dan@example.com', /Reset/)).text;
    const token = /token=([\w-]+)/.exec(text)![1]!;
    const reset = await anon.post('/api/portal/password/reset', {
      token,
      password: 'a brand new passphrase',
    });
    expect(reset.status).toBe(200);
    expect((await user.get('/api/portal/me')).status).toBe(401); // old sessions end
    expect(
      (await anon.post('/api/portal/password/reset', { token, password: 'another passphrase!' })).status,
    ).toBe(400);
    const login = new PortalClient(app, '10.0.0.4');
    await login.get('/api/portal/config');
    expect(
      (
        await login.post('/api/portal/login', {
          email: 'dan@example.com',
          password: 'a brand new passphrase',
        })
      ).status,
    ).toBe(200);
  });

  it('invites, lists and removes organisation members', async () => {
    const owner = new PortalClient(app);
    await owner.signup('erin@example.com', 'Erin Org');
    const invite = await owner.post('/api/portal/members/invite', { email: 'frank@example.com' });
    expect(invite.status).toBe(201);
    const mail = await owner.waitForMail('frank@example.com', /invited you/);
    const token = /token=([\w-]+)/.exec(mail.text)![1]!;
    const frank = new PortalClient(app);
    await frank.get('/api/portal/config');
    const accepted = await frank.post('/api/portal/invitations/accept', {
      token,
      name: 'Frank',
      password: 'franks passphrase',
    });
    expect(accepted.status).toBe(201);
    expect(accepted.json.user.role).toBe('member');
    const members = await owner.get('/api/portal/members');
    expect(members.json.members.map((m: { email: string }) => m.email)).toEqual([
      'erin@example.com',
      'frank@example.com',
    ]);
    // A member cannot invite or remove the owner, nor touch billing; keys are theirs to manage.
    expect((await frank.post('/api/portal/members/invite', { email: 'x@example.com' })).status).toBe(403);
    expect((await frank.put('/api/portal/spend-cap', { amount: '5.00' })).status).toBe(403);
    expect((await frank.post('/api/portal/checkout', { planKey: 'free' })).status).toBe(403);
    expect((await frank.post('/api/portal/keys', { name: 'frank' })).status).toBe(201);
    const erinId = members.json.members[0].id;
    const frankId = members.json.members[1].id;
    expect((await frank.delete(`/api/portal/members/${erinId}`)).status).toBe(403);
    // The last owner cannot be removed.
    expect((await owner.delete(`/api/portal/members/${erinId}`)).status).toBe(409);
    expect((await owner.delete(`/api/portal/members/${frankId}`)).status).toBe(204);
    expect((await frank.get('/api/portal/me')).status).toBe(401);
  });

  it('validates input with problem+json and field errors', async () => {
    const client = new PortalClient(app);
    await client.get('/api/portal/config');
    const r = await client.post('/api/portal/signup', { email: 'not-an-email', name: '', password: 'short' });
    expect(r.status).toBe(400);
    expect(r.headers.get('content-type')).toBe('application/problem+json');
    expect(r.json.errors.map((e: { path: string }) => e.path).sort()).toEqual(['email', 'name', 'password']);
  });
});

describe('tenant isolation', () => {
  it("user A cannot read or change B's keys, members, alerts by guessing ids (404)", async () => {
    const a = new PortalClient(app, '10.1.0.1');
    const b = new PortalClient(app, '10.1.0.2');
    await a.signup('a@tenant.test', 'Tenant A');
    await b.signup('b@tenant.test', 'Tenant B');
    const bKey = await b.post('/api/portal/keys', { name: 'B production' });
    expect(bKey.status).toBe(201);
    expect(bKey.json.secret).toMatch(/^tg_/);
    const bKeyId = bKey.json.key.id;

    expect((await a.get('/api/portal/keys')).json.keys).toEqual([]);
    expect((await a.post(`/api/portal/keys/${bKeyId}/roll`)).status).toBe(404);
    expect((await a.delete(`/api/portal/keys/${bKeyId}`)).status).toBe(404);
    const bKeys = (await b.get('/api/portal/keys')).json.keys;
    expect(bKeys).toHaveLength(1);
    expect(bKeys[0].status).toBe('active');

    const bMembers = (await b.get('/api/portal/members')).json.members;
    expect((await a.delete(`/api/portal/members/${bMembers[0].id}`)).status).toBe(404);

    const alert = await b.post('/api/portal/alerts', { kind: 'amount', threshold: '50.00' });
    expect(alert.status).toBe(201);
    expect((await a.delete(`/api/portal/alerts/${alert.json.id}`)).status).toBe(404);
    expect((await a.get('/api/portal/alerts')).json.alerts).toEqual([]);
    expect((await b.get('/api/portal/alerts')).json.alerts).toHaveLength(1);
  });

  it('keys: create with expiry, roll with grace, revoke', async () => {
    const a = new PortalClient(app, '10.1.0.3');
    await a.signup('keys@tenant.test', 'Keys Org');
    const past = await a.post('/api/portal/keys', { name: 'old', expiresAt: '2020-01-01T00:00:00Z' });
    expect(past.status).toBe(400);
    const created = await a.post('/api/portal/keys', { name: 'ci', expiresAt: '2027-01-01T00:00:00Z' });
    expect(created.status).toBe(201);
    const rolled = await a.post(`/api/portal/keys/${created.json.key.id}/roll`);
    expect(rolled.status).toBe(201);
    expect(rolled.json.secret).not.toBe(created.json.secret);
    const keys = (await a.get('/api/portal/keys')).json.keys;
    const old = keys.find((k: { id: string }) => k.id === created.json.key.id);
    expect(old.status).toBe('rolling');
    expect(old.graceUntil).toBeTruthy();
    expect((await a.delete(`/api/portal/keys/${rolled.json.key.id}`)).status).toBe(204);
    const after = (await a.get('/api/portal/keys')).json.keys;
    expect(after.find((k: { id: string }) => k.id === rolled.json.key.id).status).toBe('revoked');
  });

  it('requires a session for every organisation endpoint', async () => {
    const anon = new PortalClient(app);
    await anon.get('/api/portal/config');
    for (const path of [
      '/api/portal/keys',
      '/api/portal/subscription',
      '/api/portal/usage',
      '/api/portal/invoices',
      '/api/portal/alerts',
      '/api/portal/members',
    ]) {
      expect((await anon.get(path)).status, path).toBe(401);
    }
  });
});

describe('pricing and public data', () => {
  it('lists only public plans with base price, quotas and free tier', async () => {
    const r = await new PortalClient(app).get('/api/portal/plans');
    expect(r.json.plans.map((p: { key: string }) => p.key)).toEqual(['free', 'pro']);
    const [free, pro] = r.json.plans;
    expect(free.free).toBe(true);
    expect(pro.basePrice).toBe('49.00');
    expect(pro.features[0].included).toBe(1000);
  });

  it('serves a hint page when the SPA is not built, without shadowing API 404s', async () => {
    const page = await app.request('http://portal.test/pricing');
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('npm run build:web');
    const api = await app.request('http://portal.test/api/nope');
    expect(api.status).toBe(404);
    expect(api.headers.get('content-type')).toBe('application/problem+json');
  });

  it('serves the built SPA: files, long-cached assets, index.html for client routes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tollgate-web-'));
    mkdirSync(join(dir, 'assets'));
    writeFileSync(join(dir, 'index.html'), '<!doctype html><title>portal</title>');
    writeFileSync(join(dir, 'assets', 'app-abc.js'), 'console.log(1)');
    const web = createConsoleApp(silentLogger);
    createPortal(web, {
      config: () => config,
      store,
      clock,
      log: silentLogger,
      adminToken: 'admin-token-0123456789',
      ports: {},
      gatewayUrl: () => null,
      webDir: dir,
    });
    const asset = await web.request('http://portal.test/assets/app-abc.js');
    expect(asset.headers.get('content-type')).toContain('text/javascript');
    expect(asset.headers.get('cache-control')).toContain('immutable');
    for (const path of ['/', '/pricing', '/invoices/inv_123', '/portal/subscription']) {
      const page = await web.request(`http://portal.test${path}`);
      expect(await page.text(), path).toContain('<title>portal</title>');
    }
    expect((await web.request('http://portal.test/assets/missing.js')).status).toBe(404);
    expect((await web.request('http://portal.test/../etc/passwd')).status).not.toBe(500);
    expect((await web.request('http://portal.test/api/portal/nope')).headers.get('content-type')).toBe(
      'application/problem+json',
    );
    rmSync(dir, { recursive: true, force: true });
  });

  it('closes the dev mailbox when the console listens beyond loopback', async () => {
    const exposed = { ...config, console: { ...config.console, host: '0.0.0.0' } };
    const other = createConsoleApp(silentLogger);
    createPortal(other, {
      config: () => exposed,
      store,
      clock,
      log: silentLogger,
      adminToken: 'admin-token-0123456789',
      ports: {},
      gatewayUrl: () => null,
      webDir: '/nonexistent',
      mode: 'dev',
    });
    const client = new PortalClient(other);
    expect((await client.get('/api/portal/config')).json.devMailbox).toBe(false);
    expect((await client.get('/api/portal/dev/mailbox')).status).toBe(404);
    expect((await new PortalClient(app).get('/api/portal/config')).json.devMailbox).toBe(true);
  });

  it('admin console needs the admin token', async () => {
    expect((await app.request('http://portal.test/api/portal/admin/overview')).status).toBe(401);
    const ok = await app.request('http://portal.test/api/portal/admin/overview', {
      headers: { authorization: 'Bearer admin-token-0123456789' },
    });
    expect(ok.status).toBe(200);
    const body = (await ok.json()) as { customers: unknown[] };
    expect(body.customers.length).toBeGreaterThan(0);
  });
});
