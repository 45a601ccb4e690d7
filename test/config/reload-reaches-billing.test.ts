import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, expect, it } from 'vitest';

/**
 * Issue 13, "Config reload does not reach billing": after a `tollgate dev` reload that adds a
 * feature, billing's meter port still held the start-up config and billed the new feature's
 * usage as 0. Here a metered `chat` feature is added to the plan while `tollgate dev` runs; the
 * tokens used after the reload must show up, priced, on the subscription's upcoming invoice.
 * Runs the real CLI in a child process, as a user does; the config file is edited on disk.
 */
const MAIN = resolve(import.meta.dirname, '../../src/cli/main.ts');
const TOKEN = 'reload-billing-admin-token-0123456789';
const dir = mkdtempSync(join(tmpdir(), 'tollgate-reload-billing-'));
const file = join(dir, 'tollgate.config.ts');
let upstream: Server;
let child: ChildProcess;
let consoleUrl = '';

const chat = {
  meter: "{ slug: 'tokens', eventType: 'tokens', aggregation: 'SUM', valueProperty: '$.tokens' },",
  feature: "{ key: 'chat', name: 'Chat', meter: 'tokens' },",
  rateCard: "{ key: 'chat', feature: 'chat', price: { type: 'unit', amount: '0.01' } },",
};

const writeConfig = (withChat: boolean) =>
  writeFileSync(
    file,
    `export default {
  upstream: 'http://127.0.0.1:${(upstream.address() as AddressInfo).port}',
  gateway: { port: 0 },
  console: { port: 0 },
  admin: { token: '${TOKEN}' },
  routes: [{ method: 'GET', path: '/v1/data', feature: 'api_requests' }],
  meters: [{ slug: 'requests', eventType: 'request', aggregation: 'COUNT' }, ${withChat ? chat.meter : ''}],
  features: [{ key: 'api_requests', name: 'API requests', meter: 'requests' }, ${withChat ? chat.feature : ''}],
  plans: [{ key: 'pro', name: 'Pro', currency: 'USD', rateCards: [
    { key: 'base', price: { type: 'flat', amount: '10.00' } },
    ${withChat ? chat.rateCard : ''}
  ] }],
};
`,
  );

beforeAll(async () => {
  upstream = createServer((_req, res) => res.end('{}'));
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  writeConfig(false);
  child = spawn(process.execPath, [MAIN, '-c', file, '--data-dir', join(dir, 'data'), 'dev'], {
    env: { ...process.env, NO_COLOR: '1', TOLLGATE_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  await new Promise<void>((ready, fail) => {
    child.on('exit', (code) => fail(new Error(`tollgate dev exited with ${code}: ${out}`)));
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const portal = /portal\s+(http:\/\/\S+?)\/?\s/.exec(out);
      if (portal) {
        consoleUrl = portal[1]!;
        ready();
      }
    });
  });
}, 120_000);

afterAll(async () => {
  if (child?.pid && child.exitCode === null) {
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
  }
  await new Promise<void>((r) => upstream?.close(() => r()));
  rmSync(dir, { recursive: true, force: true });
});

async function call(method: 'GET' | 'POST', path: string, body?: unknown, contentType = 'application/json') {
  const res = await request(`${consoleUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': contentType },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.body.text();
  return { status: res.statusCode, body: text ? JSON.parse(text) : null };
}

interface Upcoming {
  costToDate: { lines: { featureKey: string | null; quantity: string; amount: string }[] };
}

it('usage of a feature added by a dev reload is billed, not counted as 0', async () => {
  const customer = (await call('POST', '/api/admin/customers', { name: 'Reload Co' })).body as { id: string };
  const sub = (await call('POST', '/api/admin/subscriptions', { customerId: customer.id, plan: 'pro' }))
    .body as {
    id: string;
  };
  const upcoming = async () =>
    (await call('GET', `/api/admin/billing/subscriptions/${sub.id}/upcoming`)).body as Upcoming;
  const chatLine = async () => (await upcoming()).costToDate.lines.find((l) => l.featureKey === 'chat');
  expect(await chatLine()).toBeUndefined();

  writeConfig(true);
  // The reload publishes Pro v2 and moves the subscriber to it (dev mode): the chat line appears.
  await expect.poll(chatLine, { timeout: 60_000, interval: 200 }).toBeDefined();

  const sent = await call(
    'POST',
    '/api/v1/events',
    [
      {
        specversion: '1.0',
        id: 'reload-chat-1',
        source: 'test',
        type: 'tokens',
        subject: customer.id,
        time: new Date().toISOString(),
        data: { tokens: 150 },
      },
    ],
    'application/cloudevents-batch+json',
  );
  expect(sent.status).toBeLessThan(300);
  await expect.poll(async () => (await chatLine())?.amount, { timeout: 60_000, interval: 200 }).toBe('1.50');
  expect((await chatLine())?.quantity).toBe('150');
}, 180_000);
