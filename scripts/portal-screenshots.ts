/**
 * Screenshots of the developer portal for reviewing UI changes, at desktop (1280 px) and phone
 * (390 px) widths: `node scripts/portal-screenshots.ts <label>` writes
 * `docs/screenshots/portal-<view>-<label>-<width>.png` (e.g. `before` and `after` a change).
 *
 * It runs what `tollgate init` writes for a one-route API (Free and Pro), in dev mode, with a
 * customer who signs up, meets a declined card, pays for Pro, creates keys and runs into Pro's
 * rate limit (lowered to 3 a minute here so that a 429 is one loop away). Needs the portal built
 * (`npm run build:web`) and Chromium at /usr/bin/chromium (or CHROMIUM_PATH).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { startTollgate } from '../src/app.ts';
import { renderConfig } from '../src/cli/init-template.ts';
import { loadConfig } from '../src/config/index.ts';
import { silentLogger } from '../src/util/log.ts';

const label = process.argv[2] ?? 'now';
const only = new Set(process.argv.slice(3));
const root = resolve(import.meta.dirname, '..');
const out = join(root, 'docs/screenshots');
const work = mkdtempSync(join(tmpdir(), 'tollgate-shots-'));
mkdirSync(out, { recursive: true });

const api = createServer((req, res) => {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ hello: new URL(req.url ?? '/', 'http://x').searchParams.get('name') ?? 'world' }));
});
await new Promise<void>((r) => api.listen(0, '127.0.0.1', r));
const upstream = `http://127.0.0.1:${(api.address() as AddressInfo).port}`;
writeFileSync(
  join(work, 'openapi.yaml'),
  'openapi: 3.1.0\ninfo: { title: Hello API, version: "1" }\npaths:\n  /hello:\n    get:\n      summary: Say hello\n      parameters: [{ name: name, in: query, schema: { type: string } }]\n      responses: { "200": { description: A greeting } }\n',
);
const configText = renderConfig({
  name: 'Hello API',
  upstream,
  openapi: './openapi.yaml',
  operations: [{ method: 'GET', path: '/hello', summary: 'Say hello' }],
}).replace("rateLimit: { limit: 600, window: '1m' }", "rateLimit: { limit: 3, window: '1m' }");
writeFileSync(join(work, 'tollgate.config.ts'), configText);
const config = await loadConfig(join(work, 'tollgate.config.ts'));
const tollgate = await startTollgate({
  config,
  dataDir: join(work, '.tollgate'),
  gatewayPort: 0,
  consolePort: 0,
  watchConfig: join(work, 'tollgate.config.ts'),
  log: silentLogger,
});
const portal = tollgate.consoleUrl ?? '';
const gateway = tollgate.gatewayUrl ?? '';

const browser: Browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-dev-shm-usage'],
});
const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
const page = await context.newPage();

async function shot(view: string, go: (p: Page) => Promise<void>, fullPage = false): Promise<void> {
  if (only.size && !only.has(view)) return;
  for (const width of [1280, 390]) {
    await page.setViewportSize({ width, height: width === 390 ? 844 : 900 });
    await go(page);
    await page.waitForTimeout(300);
    const file = join(out, `portal-${view}-${label}-${width}.png`);
    await page.screenshot({ path: file, fullPage });
    console.log(file);
  }
}

async function portalApi(method: string, path: string, body?: unknown) {
  const cookies = await context.cookies(portal);
  const csrf = cookies.find((c) => c.name === 'tg_csrf')?.value ?? '';
  const response = await page.request.fetch(`${portal}/api/portal${path}`, {
    method,
    headers: { 'x-csrf-token': csrf, 'content-type': 'application/json' },
    data: body === undefined ? undefined : JSON.stringify(body),
  });
  return (await response.json()) as Record<string, unknown>;
}

try {
  // Logged out: home, pricing (compare table, notes), sign-up for Pro.
  await shot('home', async (p) => {
    await p.goto(`${portal}/`);
    await p.getByRole('heading', { name: 'Hello API' }).waitFor();
  });
  await shot(
    'pricing',
    async (p) => {
      await p.goto(`${portal}/pricing`);
      await p.getByRole('heading', { name: 'Compare plans' }).waitFor();
    },
    true,
  );
  await shot('signup', async (p) => {
    await p.goto(`${portal}/signup?plan=pro`);
    await p.getByRole('heading', { name: 'Create your account' }).waitFor();
  });

  // Sign-up answers alike for every address; the browser shows "check your inbox".
  let attempt = 0;
  await shot('signup-sent', async (p) => {
    await p.goto(`${portal}/signup?plan=pro`);
    await p.getByLabel('Your name').fill('Grace Hopper');
    await p.getByLabel('Work email').fill(`grace${++attempt}@compilers.test`);
    await p.getByLabel('Password').fill('a long and unusual screenshot passphrase');
    await p.getByRole('button', { name: 'Create account' }).click();
    await p.getByRole('heading', { name: 'Check your inbox' }).waitFor();
  });

  // A customer: signs up, checks out Pro, first with the declining card.
  await page.goto(`${portal}/`);
  await portalApi('GET', '/config');
  await portalApi('POST', '/signup', {
    email: 'ada@engines.test',
    name: 'Ada Lovelace',
    organisation: 'Analytical Engines',
    password: 'a long and unusual screenshot passphrase',
  });
  // The account comes with the link mailed to the address (the dev mailbox keeps it).
  let confirmation: string | undefined;
  for (let i = 0; confirmation === undefined && i < 600; i++) {
    const box = await portalApi('GET', '/dev/mailbox?to=ada%40engines.test');
    const messages = (box.messages ?? []) as { text: string }[];
    confirmation = messages.map((m) => /\/verify\?token=([\w-]+)/.exec(m.text)?.[1]).find(Boolean);
    if (confirmation === undefined) await new Promise((r) => setTimeout(r, 50));
  }
  // The link's page asks for a click (mail scanners that open links must not use it up).
  await shot('verify', async (p) => {
    await p.goto(`${portal}/verify?token=${confirmation}`);
    await p.getByRole('heading', { name: 'Confirm your email address' }).waitFor();
  });
  await portalApi('POST', '/verify', { token: confirmation });
  await shot('checkout', async (p) => {
    await p.goto(`${portal}/checkout?plan=pro`);
    await p.getByLabel('Card number').waitFor();
  });
  await shot('checkout-declined', async (p) => {
    await p.goto(`${portal}/checkout?plan=pro`);
    await p.getByLabel('Card number').fill('4000 0000 0000 0002');
    await p.getByLabel('Expiry (MM/YY)').fill('12/30');
    await p.getByLabel('CVC').fill('123');
    await p.getByRole('button', { name: /^Pay / }).click();
    await p.getByText('Your card was declined').waitFor();
    await p.getByRole('button', { name: /^Pay / }).waitFor();
  });
  const paid = await portalApi('POST', '/checkout', {
    planKey: 'pro',
    card: { number: '4242424242424242', expiry: '12/30', cvc: '123' },
  });
  const key = (paid.firstKey as { secret: string }).secret;

  await shot(
    'keys',
    async (p) => {
      await p.goto(`${portal}/keys`);
      await p.getByRole('heading', { name: 'API keys' }).waitFor();
      await p.getByRole('button', { name: 'Create key' }).first().click();
    },
    true,
  );
  await shot(
    'docs',
    async (p) => {
      await p.goto(`${portal}/docs`);
      await p.getByText('curl').first().waitFor();
    },
    true,
  );
  const invoiceId = String(paid.invoiceId);
  await shot('invoice-printable', async (p) => {
    await p.goto(`${portal}/api/portal/invoices/${invoiceId}/html`);
  });
  // The invoice page with its payment, a refund and the credit note that records it.
  if (!only.size || only.has('invoice')) {
    await tollgate.billing.creditNotes.issue(invoiceId, {
      reason: 'usage_correction',
      memo: 'Requests counted twice on 3 March',
      amount: '5.00',
    });
  }
  await shot(
    'invoice',
    async (p) => {
      await p.goto(`${portal}/invoices/${invoiceId}`);
      await p
        .getByRole('heading', { name: 'Payments and credit notes' })
        .waitFor({ timeout: 15_000 })
        .catch(() => undefined);
    },
    true,
  );

  // Pro is the top plan: its 429 has nothing to upgrade to.
  for (let i = 0; i < 5; i++)
    await fetch(`${gateway}/hello`, { headers: { authorization: `Bearer ${key}` } });
  await shot('rate-limited', async (p) => {
    await p.setExtraHTTPHeaders({ authorization: `Bearer ${key}` });
    await p.goto(`${gateway}/hello`);
    await p.setExtraHTTPHeaders({});
  });
} finally {
  await browser.close();
  await tollgate.stop();
  api.close();
  rmSync(work, { recursive: true, force: true });
}
