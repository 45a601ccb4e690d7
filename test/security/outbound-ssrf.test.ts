import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTollgate, type Tollgate } from '../../src/app.ts';
import { resolveConfig } from '../../src/config/index.ts';
import { createOutboundClient, OutboundRefusedError } from '../../src/http/outbound.ts';
import { createLogger } from '../../src/util/log.ts';

/**
 * Issue 12 row 5: server-side request forgery through webhook and budget-alert URLs. A customer
 * member could aim Tollgate at `http://127.0.0.1:<port>/internal` and the server called it at
 * once, signed, following redirects. Replayed over real HTTP against a running Tollgate whose
 * operator allowed no hosts: every internal target is refused at creation with a 400 naming the
 * rule, and the internal receiver is never called.
 */
const ADMIN_TOKEN = 'admin-token-for-ssrf-tests-0123456789';
let tollgate: Tollgate;
let dataDir: string;
let internal: Server;
let internalPort: number;
const hits: string[] = [];

beforeAll(async () => {
  internal = createServer((req, res) => {
    hits.push(`${req.method} ${req.url}`);
    res.writeHead(200).end('internal secrets');
  });
  await new Promise<void>((r) => internal.listen(0, '127.0.0.1', r));
  internalPort = (internal.address() as AddressInfo).port;
  dataDir = mkdtempSync(join(tmpdir(), 'tollgate-ssrf-'));
  const config = resolveConfig(
    { upstream: 'http://127.0.0.1:1', admin: { token: ADMIN_TOKEN } },
    'ssrf.config.ts',
    dataDir,
  );
  expect(config.notifications.allowHosts).toEqual([]); // the default: nothing internal
  tollgate = await startTollgate({
    config,
    database: ':memory:',
    dataDir,
    gatewayPort: 0,
    consolePort: 0,
    log: createLogger({ level: 'silent' }),
  });
}, 180_000);

afterAll(async () => {
  await tollgate?.stop();
  await new Promise((r) => internal?.close(r));
  rmSync(dataDir, { recursive: true, force: true });
});

/** A browser over real HTTP: keeps cookies, sends the CSRF header. */
class Browser {
  readonly cookies = new Map<string, string>();
  async call(method: string, path: string, body?: unknown) {
    const headers: Record<string, string> = {};
    if (this.cookies.size > 0) headers.cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    const csrf = this.cookies.get('tg_csrf');
    if (csrf && method !== 'GET') headers['x-csrf-token'] = csrf;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const response = await fetch(`${tollgate.consoleUrl}${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    for (const line of response.headers.getSetCookie()) {
      const [pair = ''] = line.split(';');
      const eq = pair.indexOf('=');
      this.cookies.set(pair.slice(0, eq).trim(), pair.slice(eq + 1).trim());
    }
    const text = await response.text();
    return {
      status: response.status,
      type: response.headers.get('content-type'),
      json: (text ? JSON.parse(text) : null) as Record<string, unknown>,
    };
  }
}

async function admin(method: string, path: string, body?: unknown) {
  const response = await fetch(`${tollgate.consoleUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return {
    status: response.status,
    type: response.headers.get('content-type'),
    json: (text ? JSON.parse(text) : null) as Record<string, unknown>,
  };
}

describe('outgoing calls cannot be aimed inward', () => {
  it('refuses a budget alert whose webhookUrl is an internal address, and never calls it', async () => {
    const member = new Browser();
    await member.call('GET', '/api/portal/config');
    const signup = await member.call('POST', '/api/portal/signup', {
      email: 'mallory@ssrf.test',
      name: 'Mallory',
      password: 'Quartz-Lantern-Harbour-7319',
      organisation: 'Mallory Ltd',
    });
    expect(signup.status).toBe(202);
    // The account comes with the link mailed to the address (kept in the store without SMTP).
    let token: string | undefined;
    for (let i = 0; token === undefined && i < 1200; i++) {
      const mail = await tollgate.runtime.store.query<{ text_body: string }>(
        'select text_body from notify_mailbox where to_address = $1',
        ['mallory@ssrf.test'],
      );
      token = mail.map((m) => /\/verify\?token=([\w-]+)/.exec(m.text_body)?.[1]).find(Boolean);
      if (token === undefined) await new Promise((r) => setTimeout(r, 50));
    }
    expect((await member.call('POST', '/api/portal/verify', { token })).status).toBe(200);
    const targets = [
      [`http://127.0.0.1:${internalPort}/internal`, 'https-required'],
      [`https://127.0.0.1:${internalPort}/internal`, 'loopback'],
      [`https://localhost:${internalPort}/internal`, 'loopback'],
      [`https://[::ffff:127.0.0.1]:${internalPort}/internal`, 'loopback'],
      [`https://[::ffff:7f00:1]:${internalPort}/internal`, 'loopback'],
      ['https://169.254.169.254/latest/meta-data/', 'metadata'],
      ['https://[fd00:ec2::254]/latest/meta-data/', 'metadata'],
      ['https://10.1.2.3/hook', 'private'],
      ['https://192.168.1.1/hook', 'private'],
      ['https://100.64.0.1/hook', 'cgnat'],
      ['https://0.0.0.0/hook', 'unspecified'],
      ['https://[::]/hook', 'unspecified'],
      ['https://[fe80::1]/hook', 'link-local'],
      ['https://2130706433/hook', 'loopback'], // 127.0.0.1 as one number; WHATWG URL normalises it
    ] as const;
    for (const [webhookUrl, rule] of targets) {
      const refused = await member.call('POST', '/api/portal/alerts', {
        kind: 'amount',
        threshold: '0.00',
        email: false,
        webhookUrl,
      });
      expect(refused.status, webhookUrl).toBe(400);
      expect(refused.type).toBe('application/problem+json');
      expect(refused.json.rule, webhookUrl).toBe(rule);
      expect(String(refused.json.detail)).toMatch(/^webhookUrl: /);
    }
    // Nothing was stored: no alert exists that a later evaluation could fire.
    const alerts = await member.call('GET', '/api/portal/alerts');
    expect(alerts.json.alerts).toEqual([]);
    await tollgate.portal.evaluateBudgets();
    expect(hits).toEqual([]);
  });

  it('refuses a webhook endpoint on a private address at creation (admin API)', async () => {
    for (const [url, rule] of [
      [`https://127.0.0.1:${internalPort}/x`, 'loopback'],
      ['https://172.16.5.4/x', 'private'],
      ['https://[fc00::1]/x', 'private'],
      ['https://[64:ff9b::a00:1]/x', 'private'], // NAT64 spelling of 10.0.0.1
      [`http://example.com/x`, 'https-required'],
      ['https://user:pw@example.com/x', 'credentials'],
    ] as const) {
      const refused = await admin('POST', '/api/admin/webhooks/endpoints', { url });
      expect(refused.status, url).toBe(400);
      expect(refused.type).toBe('application/problem+json');
      expect(refused.json.rule, url).toBe(rule);
    }
    const list = await admin('GET', '/api/admin/webhooks/endpoints');
    expect(list.json.data).toEqual([]);
    expect(hits).toEqual([]);
  });

  it('checks the address it connects to (a name that resolves inward is refused at connect time)', async () => {
    // The syntax check passes for a host name; only the connection's own lookup sees 127.0.0.1,
    // which is what a DNS-rebinding host answers between the check at creation and the call.
    const client = createOutboundClient(() => ({ allowHosts: [], requireHttps: false }));
    try {
      const error = await client
        .post(`http://localhost:${internalPort}/internal`, { headers: {}, body: '{}', timeoutMs: 20_000 })
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(OutboundRefusedError);
      expect((error as OutboundRefusedError).rule).toBe('loopback');
      expect(hits).toEqual([]);
    } finally {
      await client.close();
    }
  });

  it('never follows a redirect towards an internal address', async () => {
    const redirector = createServer((_req, res) => {
      res.writeHead(307, { location: `http://127.0.0.1:${internalPort}/internal` }).end();
    });
    await new Promise<void>((r) => redirector.listen(0, '127.0.0.1', r));
    const port = (redirector.address() as AddressInfo).port;
    // The redirector is allowed (as an operator allows a host); its Location is not followed.
    const allowed = createOutboundClient(() => ({ allowHosts: ['127.0.0.1'], requireHttps: true }));
    try {
      const response = await allowed.post(`http://127.0.0.1:${port}/hook`, {
        headers: {},
        body: '{}',
        timeoutMs: 20_000,
      });
      expect(response.status).toBe(307);
      expect(hits).toEqual([]);
    } finally {
      await allowed.close();
      await new Promise((r) => redirector.close(r));
    }
  });
});
