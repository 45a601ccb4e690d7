import type { Hono } from 'hono';

interface MailStore {
  query<R>(sql: string, params?: unknown[]): Promise<R[]>;
}

/** A browser-like client for the portal API over `app.request`: keeps cookies, sends the CSRF header. */
export class PortalClient {
  readonly cookies = new Map<string, string>();
  readonly #app: Hono;
  readonly ip: string;
  csrf = true;

  /** Where mail is read without the dev mailbox (`tollgate start`): the store's notify_mailbox. */
  readonly #store: MailStore | undefined;

  constructor(app: Hono, ip = '10.0.0.1', store?: MailStore) {
    this.#app = app;
    this.ip = ip;
    this.#store = store;
  }

  /** `raw`: a body sent exactly as given (with the content type in `headers`), for hostile input. */
  async request(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
    raw?: string,
  ) {
    const h: Record<string, string> = { 'x-forwarded-for': this.ip, ...headers };
    if (this.cookies.size > 0) h.cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    if (this.csrf && method !== 'GET' && this.cookies.has('tg_csrf'))
      h['x-csrf-token'] = this.cookies.get('tg_csrf')!;
    if (body !== undefined) h['content-type'] = 'application/json';
    const response = await this.#app.request(`http://portal.test${path}`, {
      method,
      headers: h,
      body: raw ?? (body === undefined ? undefined : JSON.stringify(body)),
    });
    for (const line of response.headers.getSetCookie()) {
      const [pair] = line.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq).trim();
      const value = pair!.slice(eq + 1).trim();
      if (value === '' || /max-age=0/i.test(line)) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    const text = await response.text();
    let json: unknown = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      json = text;
    }
    // biome-ignore lint/suspicious/noExplicitAny: test convenience; assertions check the shape.
    return { status: response.status, headers: response.headers, json: json as any, raw: response };
  }

  get(path: string) {
    return this.request('GET', path);
  }
  post(path: string, body: unknown = {}) {
    return this.request('POST', path, body);
  }
  put(path: string, body: unknown = {}) {
    return this.request('PUT', path, body);
  }
  delete(path: string) {
    return this.request('DELETE', path);
  }

  /**
   * The newest dev-mailbox message to `to` whose subject matches: reset and invitation mail is
   * sent after the answer (so that its timing tells nothing), so it is waited for.
   */
  async waitForMail(to: string, subject: RegExp = /./, timeoutMs = 30_000) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const messages = this.#store
        ? (
            await this.#store.query<{ id: string; subject: string; text_body: string }>(
              'select id, subject, text_body from notify_mailbox where lower(to_address) = lower($1) order by created_at desc',
              [to],
            )
          ).map((m) => ({ id: m.id, to, subject: m.subject, text: m.text_body }))
        : ((await this.get(`/api/portal/dev/mailbox?to=${encodeURIComponent(to)}`)).json?.messages ?? []);
      const found = messages.find((m: { subject: string }) => subject.test(m.subject));
      if (found) return found as { id: string; to: string; subject: string; text: string };
      if (Date.now() > deadline)
        throw new Error(`no mail to ${to} matching ${subject} within ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  async signup(email: string, org: string, password = 'correct horse battery') {
    await this.get('/api/portal/config');
    const r = await this.post('/api/portal/signup', {
      email,
      name: `${org} Owner`,
      password,
      organisation: org,
    });
    if (r.status !== 202) throw new Error(`signup failed: ${r.status} ${JSON.stringify(r.json)}`);
    return this.verify(email);
  }

  /** Opens the confirmation link mailed to `email`: the account is created and signed in. */
  async verify(email: string) {
    const mail = await this.waitForMail(email, /^Confirm your email address/);
    const token = /\/verify\?token=([\w-]+)/.exec(mail.text)?.[1];
    const r = await this.post('/api/portal/verify', { token });
    if (r.status !== 200) throw new Error(`verify failed: ${r.status} ${JSON.stringify(r.json)}`);
    return r.json.user as { id: string; customerId: string };
  }
}
