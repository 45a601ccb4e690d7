import { request } from 'undici';
import type { Tollgate } from '../../src/app.ts';
import type { TollgateConfigInput } from '../../src/config/index.ts';
import { testCatalog } from '../support/catalog.ts';
import { startTestTollgate } from '../support/tollgate.ts';

interface MailStore {
  query<R>(sql: string, params?: unknown[]): Promise<R[]>;
}

/**
 * A browser-like client of the portal over real HTTP (the console listener on a free port):
 * keeps cookies and sends the CSRF cookie's value in `x-csrf-token`, as the SPA does.
 */
export class HttpPortalClient {
  readonly cookies = new Map<string, string>();
  csrf = true;

  readonly baseUrl: string;
  readonly headers: Record<string, string>;

  /** Where mail is read without the dev mailbox (`tollgate start`): the store's notify_mailbox. */
  readonly store: MailStore | undefined;

  constructor(baseUrl: string, headers: Record<string, string> = {}, store?: MailStore) {
    this.baseUrl = baseUrl;
    this.headers = headers;
    this.store = store;
  }

  async request(method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
    const h: Record<string, string> = { ...this.headers, ...headers };
    if (this.cookies.size > 0) h.cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    if (this.csrf && method !== 'GET' && this.cookies.has('tg_csrf') && !h['x-csrf-token'])
      h['x-csrf-token'] = this.cookies.get('tg_csrf')!;
    if (body !== undefined) h['content-type'] = 'application/json';
    const res = await request(`${this.baseUrl}${path}`, {
      method: method as 'GET',
      headers: h,
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const setCookies = res.headers['set-cookie'];
    for (const line of Array.isArray(setCookies) ? setCookies : setCookies ? [setCookies] : []) {
      const [pair] = line.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq).trim();
      const value = pair!.slice(eq + 1).trim();
      if (value === '' || /max-age=0/i.test(line)) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    const text = await res.body.text();
    let json: unknown = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      json = text;
    }
    // biome-ignore lint/suspicious/noExplicitAny: test convenience; assertions check the shape.
    return { status: res.statusCode, headers: res.headers, json: json as any, text };
  }

  get(path: string) {
    return this.request('GET', path);
  }
  post(path: string, body: unknown = {}, headers: Record<string, string> = {}) {
    return this.request('POST', path, body, headers);
  }

  async signup(email: string, password = 'correct horse battery') {
    await this.get('/api/portal/config');
    const r = await this.post('/api/portal/signup', { email, name: 'Owner', password, organisation: email });
    if (r.status !== 202) throw new Error(`signup failed: ${r.status} ${r.text}`);
    return this.verify(email);
  }

  /** Opens the confirmation link mailed to `email`: the account is created and signed in. */
  async verify(email: string) {
    const mail = await this.waitForMail(email, /^Confirm your email address/);
    const token = /\/verify\?token=([\w-]+)/.exec(mail.text)?.[1];
    const r = await this.post('/api/portal/verify', { token });
    if (r.status !== 200) throw new Error(`verify failed: ${r.status} ${r.text}`);
    return r.json.user as { id: string; customerId: string };
  }

  async waitForMail(to: string, subject: RegExp, timeoutMs = 30_000) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const messages = this.store
        ? (
            await this.store.query<{ subject: string; text_body: string }>(
              'select subject, text_body from notify_mailbox where lower(to_address) = lower($1) order by created_at desc',
              [to],
            )
          ).map((m) => ({ subject: m.subject, text: m.text_body }))
        : ((await this.get(`/api/portal/dev/mailbox?to=${encodeURIComponent(to)}`)).json?.messages ?? []);
      const found = messages.find((m: { subject: string }) => subject.test(m.subject));
      if (found) return found as { subject: string; text: string };
      if (Date.now() > deadline) throw new Error(`no mail to ${to} matching ${subject}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

/** Tollgate (dev mode: the dev mailbox is on) with the test catalog and `overrides`. */
export function startPortalStack(
  name: string,
  overrides: Partial<TollgateConfigInput> = {},
): Promise<Tollgate> {
  return startTestTollgate(testCatalog(overrides), name);
}
