import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stripVTControlCharacters } from 'node:util';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DemoUpstream, startDemoUpstream } from '../../examples/quickstart/upstream.ts';
import { ensurePortalBuilt, launchChromium } from '../browser/stack.ts';

/**
 * Follows docs/first-revenue.md: the files it shows are written as they are, the command it
 * gives is run as a child process, and the clicks it lists are made in Chromium, down to the
 * paid invoice in the portal and in the admin API.
 */
const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const DOC = readFileSync(join(ROOT, 'docs/first-revenue.md'), 'utf8');
const SHOTS = join(ROOT, 'test-results', 'screenshots');

/** Code blocks with a `title="path"` in the document. */
function filesInDoc(): Map<string, string> {
  const files = new Map<string, string>();
  for (const m of DOC.matchAll(/```\w+ title="([^"]+)"\n([\s\S]*?)```/g)) files.set(m[1]!, m[2]!);
  return files;
}

let upstream: DemoUpstream;
let server: ChildProcess;
let work: string;
let browser: Awaited<ReturnType<typeof launchChromium>> | undefined;
let page: Page;
let gatewayUrl = '';
let portalUrl = '';
let output = '';

function waitForUrls(child: ChildProcess): Promise<void> {
  return new Promise((resolveUrls, reject) => {
    const timer = setTimeout(() => reject(new Error(`tollgate dev did not start:\n${output}`)), 60_000);
    const onData = (chunk: Buffer) => {
      // CI=true turns colours on; read the banner without them.
      output += stripVTControlCharacters(chunk.toString());
      const gw = /gateway\s+(http:\/\/\S+)/.exec(output);
      const portal = /portal\s+(http:\/\/\S+?)\/?\s/.exec(output);
      if (gw && portal) {
        gatewayUrl = gw[1]!;
        portalUrl = portal[1]!;
        clearTimeout(timer);
        resolveUrls();
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.once('exit', (code) => reject(new Error(`tollgate dev exited with ${code}:\n${output}`)));
  });
}

beforeAll(async () => {
  // Step 1: the portal is built (npm test builds it; a test run alone builds it here).
  ensurePortalBuilt();
  // Step 2: the API to sell.
  upstream = await startDemoUpstream(0);
  // Step 3: my-api/ inside the clone, with the two files from the document.
  mkdirSync(join(ROOT, '.tollgate'), { recursive: true });
  work = mkdtempSync(join(ROOT, '.tollgate', 'first-revenue-'));
  const files = filesInDoc();
  expect([...files.keys()].sort()).toEqual(['my-api/openapi.yaml', 'my-api/tollgate.config.ts']);
  for (const [path, text] of files) {
    const target = join(work, path);
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, text);
  }
  // Step 4: the command from the document (free ports instead of 8080/8081).
  const command = /npx tollgate (dev -c my-api\/tollgate\.config\.ts --data-dir my-api\/\.tollgate)/.exec(
    DOC,
  );
  expect(command).not.toBeNull();
  server = spawn(process.execPath, [join(ROOT, 'bin/tollgate.js'), ...command![1]!.split(' ')], {
    cwd: work,
    env: {
      ...process.env,
      UPSTREAM_URL: upstream.url,
      GATEWAY_PORT: '0',
      PORTAL_PORT: '0',
      TOLLGATE_LOG_LEVEL: 'warn',
      TOLLGATE_ADMIN_TOKEN: '',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  await waitForUrls(server);

  mkdirSync(SHOTS, { recursive: true });
  browser = await launchChromium();
  page = browser.page;
}, 120_000);

afterAll(async () => {
  await browser?.close();
  if (server && server.exitCode === null) {
    const exited = new Promise((r) => server.once('exit', r));
    server.kill('SIGTERM');
    await exited;
  }
  await upstream?.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('docs/first-revenue.md', () => {
  it('gets from a fresh config to a paid invoice, as written', async () => {
    // Step 5: become the first customer.
    await page.goto(`${portalUrl}/`);
    await page.getByRole('navigation', { name: 'Primary' }).getByRole('link', { name: 'Pricing' }).click();
    await page.getByRole('link', { name: 'Choose Pro' }).click();
    await page.getByLabel('Your name').fill('Ada Lovelace');
    await page.getByLabel('Organisation').fill('Analytical Engines');
    await page.getByLabel('Work email').fill('ada@engines.test');
    await page.getByLabel('Password').fill('first revenue passphrase');
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.getByLabel('Card number').fill('4242 4242 4242 4242');
    await page.getByLabel('Expiry (MM/YY)').fill('12/30');
    await page.getByLabel('CVC').fill('123');
    await page.getByRole('button', { name: 'Pay $29.00 and subscribe' }).click();
    await page.getByText('You are on Pro').waitFor();
    await page.getByText('Your first API key').waitFor();
    const key = (await page.getByTestId('secret').textContent())?.trim() ?? '';
    expect(key).toMatch(/^tg_/);

    // Step 6: call the API through the gateway.
    const response = await fetch(`${gatewayUrl}/v1/weather?city=Paris`, {
      headers: { authorization: `Bearer ${key}` },
    });
    expect(response.status).toBe(200);
    expect(((await response.json()) as { city: string }).city).toBe('Paris');

    // Step 7: the paid invoice, in the portal …
    await page.getByRole('link', { name: 'Go to dashboard' }).click();
    await page.getByRole('navigation', { name: 'Account' }).getByRole('link', { name: 'Invoices' }).click();
    const row = page.locator('tbody tr', { hasText: 'INV-000001' });
    await row.waitFor();
    await expect.poll(async () => (await row.textContent()) ?? '', { timeout: 20_000 }).toMatch(/paid/i);
    expect(await row.textContent()).toContain('$29.00');
    await row.getByRole('link', { name: 'INV-000001' }).click();
    await page.getByText('Pro subscription').waitFor();
    await page.screenshot({ path: join(SHOTS, 'first-revenue-invoice.png'), fullPage: true });
    const printable = await page.request.get(
      `${portalUrl}${await page.getByRole('link', { name: 'Printable invoice' }).getAttribute('href')}`,
    );
    expect(printable.status()).toBe(200);
    expect(await printable.text()).toContain('29.00');

    // … and in the admin API, with the token from the data dir.
    const token = readFileSync(join(work, 'my-api/.tollgate/admin-token'), 'utf8').trim();
    const admin = await fetch(`${portalUrl}/api/admin/invoices`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(admin.status).toBe(200);
    const body = (await admin.json()) as
      | { data?: { status: string; total: string }[] }
      | { status: string; total: string }[];
    const invoices = Array.isArray(body) ? body : (body.data ?? []);
    expect(invoices.some((i) => i.status === 'paid' && i.total === '29.00')).toBe(true);
  }, 120_000);
});
