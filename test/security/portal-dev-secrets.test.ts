import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTollgate, type Tollgate } from '../../src/app.ts';
import { testCatalog } from '../support/catalog.ts';
import { HttpPortalClient } from './portal-http.ts';

/**
 * Issue 12, row 6: under `tollgate start` without SMTP, `GET /api/portal/dev/mailbox?to=<victim>`
 * answered the victim's reset link to anyone, and reset and invitation links were written to the
 * log at info level. Now the dev mailbox exists only under `tollgate dev`, and no secret (API key,
 * reset or invitation token, session, CSRF token, admin token) reaches the log at any level.
 */
function capturingLogger() {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(chunk.toString('utf8'));
      done();
    },
  });
  return { log: pino({ level: 'trace' }, sink), text: () => lines.join('') };
}

function start(mode: 'dev' | 'start', log = capturingLogger().log): Promise<Tollgate> {
  return startTollgate({
    config: testCatalog(),
    database: ':memory:',
    dataDir: mkdtempSync(join(tmpdir(), `tollgate-row6-${mode}-`)),
    gatewayPort: 0,
    consolePort: 0,
    dev: mode === 'dev',
    log,
  });
}

describe('row 6: the dev mailbox is a development convenience', () => {
  let production: Tollgate;
  beforeAll(async () => {
    production = await start('start');
  }, 180_000);
  afterAll(async () => {
    await production?.stop();
  });

  it('does not exist under `tollgate start` without SMTP: the victim reset link stays private', async () => {
    // No dev mailbox here: the victim reads the confirmation link from the store, as from a real inbox.
    const victim = new HttpPortalClient(production.consoleUrl!, {}, production.runtime.store);
    await victim.signup('victim@example.com');
    const attacker = new HttpPortalClient(production.consoleUrl!);
    await attacker.get('/api/portal/config');
    expect((await attacker.post('/api/portal/password/forgot', { email: 'victim@example.com' })).status).toBe(
      202,
    );
    const mailbox = await attacker.get('/api/portal/dev/mailbox?to=victim@example.com');
    expect(mailbox.status).toBe(404);
    expect(mailbox.headers['content-type']).toBe('application/problem+json');
    expect(mailbox.text).not.toMatch(/token=/);
    expect((await attacker.get('/api/portal/config')).json.devMailbox).toBe(false);
  }, 180_000);
});

describe('no secret is ever logged', () => {
  const captured = capturingLogger();
  let dev: Tollgate;
  beforeAll(async () => {
    dev = await start('dev', captured.log);
  }, 180_000);
  afterAll(async () => {
    await dev?.stop();
  });

  it('sign-up, log-in, reset, invitation and key creation leave no secret in the log (trace level)', async () => {
    const base = dev.consoleUrl!;
    const owner = new HttpPortalClient(base);
    await owner.signup('secret-owner@example.com');
    const secrets: Record<string, string> = {
      session: owner.cookies.get('tg_session')!,
      csrf: owner.cookies.get('tg_csrf')!,
      admin: dev.runtime.adminToken,
    };
    const key = await owner.post('/api/portal/keys', { name: 'ci' });
    expect(key.status).toBe(201);
    secrets.portalKey = key.json.secret;
    const adminKey = await request(`${base}/api/admin/keys`, {
      method: 'POST',
      headers: { authorization: `Bearer ${dev.runtime.adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        customerId: (await owner.get('/api/portal/me')).json.organisation.id,
        name: 'admin',
      }),
    });
    expect(adminKey.statusCode).toBe(201);
    secrets.adminKey = ((await adminKey.body.json()) as { secret: string }).secret;

    expect(
      (await owner.post('/api/portal/members/invite', { email: 'secret-invitee@example.com' })).status,
    ).toBe(201);
    const invitation = await owner.waitForMail('secret-invitee@example.com', /invited you/);
    secrets.invitation = /token=([\w-]+)/.exec(invitation.text)![1]!;

    const anon = new HttpPortalClient(base);
    await anon.get('/api/portal/config');
    await anon.post('/api/portal/password/forgot', { email: 'secret-owner@example.com' });
    const reset = await anon.waitForMail('secret-owner@example.com', /Reset/);
    secrets.reset = /token=([\w-]+)/.exec(reset.text)![1]!;
    const login = new HttpPortalClient(base);
    await login.get('/api/portal/config');
    expect(
      (
        await login.post('/api/portal/login', {
          email: 'secret-owner@example.com',
          password: 'correct horse battery',
        })
      ).status,
    ).toBe(200);
    secrets.loginSession = login.cookies.get('tg_session')!;
    secrets.password = 'correct horse battery';

    const log = captured.text();
    expect(log.length).toBeGreaterThan(0);
    expect(log).toContain('kept in the dev mailbox');
    for (const [what, secret] of Object.entries(secrets)) {
      expect(secret, what).toBeTruthy();
      expect(log.includes(secret), `${what} appears in the log`).toBe(false);
    }
  }, 120_000);
});
