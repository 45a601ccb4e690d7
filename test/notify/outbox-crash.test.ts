import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Store } from '../../src/store/index.ts';
import { openPostgresStore } from '../../src/store/postgres.ts';
import { PG_URL } from '../support/postgres.ts';

/**
 * Crash between a change and its delivery: a console process on PostgreSQL commits subscriptions
 * (each `subscription.created` written in the same transaction) and is killed with SIGKILL before
 * any delivery is attempted (a console runs no delivery loop). A worker started afterwards
 * delivers every event exactly once to each of two endpoints: nothing lost, nothing doubled.
 */
const ADMIN = 'admin-token-for-the-crash-test-0123';
const schema = `t_${randomBytes(6).toString('hex')}`;
const url = new URL(PG_URL);
url.searchParams.set('options', `-c search_path=${schema}`);
let store: Store;
let receiver: Server;
let base: string;
let dataDir: string;
const children: ChildProcess[] = [];
const received: { path: string; id: string; subscriptionId: string }[] = [];

function startProcess(
  role: 'console' | 'worker',
): Promise<{ child: ChildProcess; consoleUrl: string | null }> {
  const child = spawn(
    process.execPath,
    [join(import.meta.dirname, 'fixtures/tollgate-process.ts'), url.toString(), role, dataDir],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  children.push(child);
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
    lines.once('line', (line) => resolve({ child, consoleUrl: JSON.parse(line).consoleUrl }));
    child.once('exit', (code) => reject(new Error(`the ${role} process exited (${code}) before it was up`)));
  });
}

function killed(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

beforeAll(async () => {
  const admin = await openPostgresStore(PG_URL, { max: 1 });
  await admin.exec(`create schema ${schema}`);
  await admin.close();
  store = await openPostgresStore(url.toString(), { max: 1 });
  dataDir = mkdtempSync(join(tmpdir(), 'tollgate-crash-'));
  receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => {
      body += c;
    });
    req.on('end', () => {
      const event = JSON.parse(body) as { data: { subscription: { id: string } } };
      received.push({
        path: req.url ?? '',
        id: String(req.headers['webhook-id']),
        subscriptionId: event.data.subscription.id,
      });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
});

afterAll(async () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) await killed(child);
  await store?.close();
  const admin = await openPostgresStore(PG_URL, { max: 1 });
  await admin.exec(`drop schema if exists ${schema} cascade`);
  await admin.close();
  await new Promise((r) => receiver?.close(r));
  rmSync(dataDir, { recursive: true, force: true });
});

describe('a crash between a change and its delivery', () => {
  it('loses nothing and sends nothing twice after a restart', async () => {
    const { child, consoleUrl } = await startProcess('console');
    const call = async (path: string, body: unknown) => {
      const response = await fetch(`${consoleUrl}/api/admin${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      expect(response.status, path).toBe(201);
      return (await response.json()) as { id: string };
    };
    await call('/webhooks/endpoints', { url: `${base}/a`, eventTypes: ['subscription.created'] });
    await call('/webhooks/endpoints', { url: `${base}/b`, eventTypes: ['subscription.*'] });
    const subscriptions: string[] = [];
    for (let i = 0; i < 5; i++) {
      const customer = await call('/customers', { name: `Crash ${i}` });
      subscriptions.push((await call('/subscriptions', { customerId: customer.id, plan: 'free' })).id);
    }
    await killed(child); // kill -9: committed changes, no delivery attempted
    expect(received).toEqual([]);

    await startProcess('worker');
    await expect.poll(() => received.length, { timeout: 60_000, interval: 200 }).toBe(10);
    // Nothing is left to send, so nothing more will arrive.
    await expect
      .poll(
        async () =>
          (
            await store.query<{ n: number }>(
              `select count(*)::int as n from notify_deliveries where status <> 'succeeded'`,
            )
          )[0]?.n,
        { timeout: 60_000, interval: 200 },
      )
      .toBe(0);
    expect(received).toHaveLength(10);
    for (const path of ['/a', '/b']) {
      const mine = received.filter((r) => r.path === path);
      expect(mine.map((r) => r.subscriptionId).sort()).toEqual([...subscriptions].sort());
      expect(new Set(mine.map((r) => r.id)).size).toBe(5);
    }
  }, 180_000);
});
