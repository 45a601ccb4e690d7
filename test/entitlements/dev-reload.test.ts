import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, expect, it } from 'vitest';

/**
 * `tollgate dev`: editing a plan's limit in tollgate.config.ts reaches existing keys without a
 * restart (dev mode moves subscribers to the new version; `tollgate start` would keep them), and
 * an edited meter is rebuilt from the stored events at once.
 * Runs the real CLI in a child process: the config is re-imported by Node itself.
 */
const MAIN = resolve(import.meta.dirname, '../../src/cli/main.ts');
const TOKEN = 'dev-reload-admin-token-0123456789';
const dir = mkdtempSync(join(tmpdir(), 'tollgate-dev-'));
const file = join(dir, 'tollgate.config.ts');
let upstream: Server;
let child: ChildProcess;
let gatewayUrl = '';
let consoleUrl = '';

const writeConfig = (limit: number, meterGroupBy = '') =>
  writeFileSync(
    file,
    `export default {
  upstream: 'http://127.0.0.1:${(upstream.address() as AddressInfo).port}',
  gateway: { port: 0 },
  console: { port: 0 },
  admin: { token: '${TOKEN}' },
  routes: [{ method: 'GET', path: '/v1/data', feature: 'api_requests' }],
  meters: [{ slug: 'requests', eventType: 'request', aggregation: 'COUNT'${meterGroupBy} }],
  features: [{ key: 'api_requests', name: 'API requests', meter: 'requests' }],
  plans: [{ key: 'free', name: 'Free', rateCards: [{ key: 'requests', feature: 'api_requests', entitlement: { type: 'metered', limit: ${limit} } }] }],
};
`,
  );

beforeAll(async () => {
  upstream = createServer((_req, res) => res.end('{}'));
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  writeConfig(2);
  child = spawn(process.execPath, [MAIN, '-c', file, '--data-dir', join(dir, 'data'), 'dev'], {
    env: { ...process.env, NO_COLOR: '1', TOLLGATE_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  await new Promise<void>((ready, fail) => {
    child.on('exit', (code) => fail(new Error(`tollgate dev exited with ${code}: ${out}`)));
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const gateway = /gateway\s+(http:\/\/\S+)/.exec(out);
      const portal = /portal\s+(http:\/\/\S+?)\/?\s/.exec(out);
      if (gateway && portal) {
        gatewayUrl = gateway[1]!;
        consoleUrl = portal[1]!;
        ready();
      }
    });
  });
}, 180_000);

afterAll(async () => {
  if (child?.pid && child.exitCode === null) {
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
  }
  await new Promise<void>((r) => upstream?.close(() => r()));
  rmSync(dir, { recursive: true, force: true });
});

async function admin(path: string, body: unknown) {
  const res = await request(`${consoleUrl}/api/admin${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return (await res.body.json()) as Record<string, string> & { key: { id: string } };
}

it('a limit edited in the config applies to existing keys in dev mode', async () => {
  const customer = await admin('/customers', { name: 'Dev' });
  await admin('/subscriptions', { customerId: customer.id, plan: 'free' });
  const { secret } = await admin('/keys', { customerId: customer.id });
  const call = async () => {
    const res = await request(`${gatewayUrl}/v1/data`, { headers: { authorization: `Bearer ${secret}` } });
    await res.body.dump();
    return res.statusCode;
  };
  expect([await call(), await call(), await call()]).toEqual([200, 200, 429]);

  writeConfig(5);
  const deadline = Date.now() + 60_000;
  let status = 429;
  while (status !== 200 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    status = await call();
  }
  expect(status).toBe(200);
}, 180_000);

it('a meter edited in the config is rebuilt from the stored events in dev mode', async () => {
  const query = async (params: string) => {
    const res = await request(`${consoleUrl}/api/v1/meters/requests/query?${params}`, {
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    return {
      status: res.statusCode,
      body: (await res.body.json()) as { data: { value: number; groupBy: object }[] },
    };
  };
  expect((await query('groupBy=route')).status).toBe(400); // no such group-by yet
  // The test above made three calls that succeeded (429s are not metered).
  await expect.poll(async () => (await query('')).body.data[0]?.value, { timeout: 30_000 }).toBe(3);

  writeConfig(5, ", groupBy: { route: '$.route' }");
  const deadline = Date.now() + 60_000;
  let answer = await query('groupBy=route');
  while (answer.status !== 200 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    answer = await query('groupBy=route');
  }
  expect(answer.status).toBe(200);
  expect(answer.body.data.map((r) => [r.groupBy, r.value])).toEqual([[{ route: '/v1/data' }, 3]]);
}, 180_000);
