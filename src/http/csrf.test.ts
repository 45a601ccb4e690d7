import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { anonymousCsrfToken, type CsrfVariables, csrfGuard, sessionCsrfToken } from './csrf.ts';
import { loadSession, type SessionVariables } from './session.ts';

const options = { cookie: 'tg_csrf', header: 'x-csrf-token', key: 'k'.repeat(32), secure: () => false };

function app() {
  const a = new Hono<{ Variables: SessionVariables<string> & CsrfVariables }>();
  a.use(
    '*',
    loadSession<string>({
      cookie: 'tg_session',
      secure: () => false,
      resolve: async (t) => (t === 'good-session' ? 'user' : null),
    }),
  );
  a.use('*', csrfGuard<string>(options));
  a.get('/config', (c) => c.json({ token: c.get('csrfToken') }));
  a.post('/act', (c) => c.json({ ok: true }));
  return a;
}

const post = (cookie: string, header: string) =>
  app().request('/act', { method: 'POST', headers: { cookie, 'x-csrf-token': header } });

describe('CSRF tokens', () => {
  it('refuses a pair the client chose, signed in or not', async () => {
    expect((await post('tg_csrf=a', 'a')).status).toBe(403);
    expect((await post('tg_session=good-session; tg_csrf=a', 'a')).status).toBe(403);
  });

  it('accepts the token bound to the session, and only for that session', async () => {
    const bound = sessionCsrfToken('good-session');
    expect((await post(`tg_session=good-session; tg_csrf=${bound}`, bound)).status).toBe(200);
    expect(
      (await post(`tg_session=good-session; tg_csrf=${sessionCsrfToken('other')}`, sessionCsrfToken('other')))
        .status,
    ).toBe(403);
  });

  it('accepts a server-signed token before log-in', async () => {
    const token = anonymousCsrfToken(options.key);
    expect((await post(`tg_csrf=${token}`, token)).status).toBe(200);
    expect(
      (await post(`tg_csrf=${anonymousCsrfToken('another key')}`, anonymousCsrfToken('another key'))).status,
    ).toBe(403);
  });

  it('sets the cookie once on a GET, and not again while the browser holds the right one', async () => {
    const first = await app().request('/config');
    const cookies = first.headers.getSetCookie();
    expect(cookies).toHaveLength(1);
    const token = ((await first.json()) as { token: string }).token;
    expect(cookies[0]).toContain(`tg_csrf=${token}`);
    const again = await app().request('/config', { headers: { cookie: `tg_csrf=${token}` } });
    expect(again.headers.getSetCookie()).toHaveLength(0);
  });
});
