import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tollgate } from '../../src/app.ts';
import { sha256 } from '../../src/portal/tokens.ts';
import { HttpPortalClient, startPortalStack } from './portal-http.ts';

/**
 * Issue 12, row 11 for sign-up: `POST /api/portal/signup` answered 409 for an address that has an
 * account (and 201 with a session for a new one), so anyone could learn who is a customer. Now
 * both get 202 "check your mail" after the same password hash; a new address gets a single-use,
 * expiring link (only its hash stored) that creates the account and signs in; the owner of an
 * existing address gets a note, and nothing about the account changes.
 */
let tollgate: Tollgate;
let base: string;

beforeAll(async () => {
  tollgate = await startPortalStack('signup-enumeration');
  base = tollgate.consoleUrl!;
}, 180_000);
afterAll(async () => {
  await tollgate?.stop();
});

const sql = <R>(text: string, params: unknown[] = []) => tollgate.runtime.store.query<R>(text, params);
const PASSWORD = 'Quartz-Lantern-Harbour-7319';

async function signUp(email: string, password = PASSWORD) {
  const client = new HttpPortalClient(base);
  await client.get('/api/portal/config');
  const started = performance.now();
  const r = await client.post('/api/portal/signup', { email, name: 'Someone', password });
  return { ...r, ms: performance.now() - started, client };
}

const linkIn = (text: string) => /\/verify\?token=([\w-]+)/.exec(text)?.[1] ?? '';

describe('sign-up answers alike for new and existing addresses', () => {
  it('the same status, body and cookies; no session before the address is confirmed', async () => {
    const owner = new HttpPortalClient(base);
    await owner.signup('customer@example.com');
    const before = await sql<{ password_hash: string; name: string }>(
      `select password_hash, name from portal_users where email = 'customer@example.com'`,
    );
    const sessionsBefore = await sql('select token_hash from portal_sessions');

    const existing = await signUp('customer@example.com', 'Another-Harbour-Quartz-5521');
    const fresh = await signUp('newcomer@example.com');
    expect([existing.status, existing.json]).toEqual([202, { sent: true }]);
    expect([fresh.status, fresh.json]).toEqual([202, { sent: true }]);
    expect(existing.headers['content-type']).toBe(fresh.headers['content-type']);
    const cookieNames = (c: HttpPortalClient) => [...c.cookies.keys()].sort();
    expect(cookieNames(existing.client)).toEqual(cookieNames(fresh.client));
    expect(existing.client.cookies.has('tg_session')).toBe(false);
    expect(fresh.client.cookies.has('tg_session')).toBe(false);
    expect((await fresh.client.get('/api/portal/me')).status).toBe(401);

    // The owner hears of it, with a way to reset; nothing about the account changed.
    const notice = await owner.waitForMail('customer@example.com', /tried to sign up/);
    expect(notice.text).toMatch(/forgot-password/);
    expect(notice.text).not.toMatch(/verify\?token=/);
    expect(
      await sql(`select password_hash, name from portal_users where email = 'customer@example.com'`),
    ).toEqual(before);
    expect(await sql('select token_hash from portal_sessions')).toEqual(sessionsBefore);
    // Only the owner's own (used) sign-up: the attempt left no link that could take the address.
    expect(
      await sql(
        `select used_at is not null as used from portal_signups where lower(email) = 'customer@example.com'`,
      ),
    ).toEqual([{ used: true }]);

    // The new address: no account until the link is opened; the link logs in, once.
    const mail = await owner.waitForMail('newcomer@example.com', /^Confirm your email address/);
    const token = linkIn(mail.text);
    expect(token.length).toBeGreaterThan(30);
    expect(await sql(`select id from portal_users where email = 'newcomer@example.com'`)).toEqual([]);
    const stored = await sql<{ token_hash: string }>(
      `select token_hash from portal_signups where email = 'newcomer@example.com'`,
    );
    expect(stored).toEqual([{ token_hash: sha256(token) }]); // hashed at rest
    // Logging in before confirming fails as for any wrong password.
    const early = await fresh.client.post('/api/portal/login', {
      email: 'newcomer@example.com',
      password: PASSWORD,
    });
    expect(early.status).toBe(401);

    const verified = await fresh.client.post('/api/portal/verify', { token });
    expect(verified.status).toBe(200);
    expect(verified.json.user).toMatchObject({ email: 'newcomer@example.com', role: 'owner' });
    expect(fresh.client.cookies.has('tg_session')).toBe(true);
    expect(
      await sql(`select password_hash from portal_signups where email = 'newcomer@example.com'`),
    ).toEqual([{ password_hash: '' }]);
    expect((await fresh.client.get('/api/portal/me')).json.user.email).toBe('newcomer@example.com');

    const replay = new HttpPortalClient(base);
    await replay.get('/api/portal/config');
    const reused = await replay.post('/api/portal/verify', { token });
    expect(reused.status).toBe(400);
    expect(reused.headers['content-type']).toMatch(/application\/problem\+json/);
  }, 180_000);

  it('an expired or unknown link creates nothing', async () => {
    const { client } = await signUp('late@example.com');
    const token = linkIn((await client.waitForMail('late@example.com', /^Confirm your email address/)).text);
    await sql(
      `update portal_signups set expires_at = now() - interval '1 second' where email = 'late@example.com'`,
    );
    const late = await client.post('/api/portal/verify', { token });
    expect(late.status).toBe(400);
    // The next sign-up clears expired ones: an unconfirmed stranger's password hash is not kept.
    await signUp('later@example.com');
    await client.waitForMail('later@example.com', /^Confirm your email address/);
    expect(await sql(`select 1 from portal_signups where email = 'late@example.com'`)).toEqual([]);
    const unknown = await client.post('/api/portal/verify', { token: 'x'.repeat(43) });
    expect(unknown.status).toBe(400);
    expect(await sql(`select id from portal_users where email = 'late@example.com'`)).toEqual([]);
    expect(client.cookies.has('tg_session')).toBe(false);
  }, 180_000);

  it('takes as long for an existing address as for a new one (both hash the password)', async () => {
    const owner = new HttpPortalClient(base);
    await owner.signup('timed@example.com');
    const known: number[] = [];
    const unknown: number[] = [];
    for (let i = 0; i < 5; i++) {
      known.push((await signUp('timed@example.com')).ms);
      unknown.push((await signUp(`timed-new-${i}@example.com`)).ms);
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
    // The old code answered an existing address before hashing: a few ms against the hash's
    // hundred or more. Both now wait for one scrypt hash (N=2^17).
    expect(median(known)).toBeGreaterThan(median(unknown) / 3);
    expect(median(unknown)).toBeGreaterThan(median(known) / 3);
  }, 180_000);
});
