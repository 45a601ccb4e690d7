import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTollgate, type Tollgate } from '../../src/app.ts';
import { type ResolvedConfig, resolveConfig } from '../../src/config/index.ts';
import { openPostgresStore } from '../../src/store/postgres.ts';
import { ManualClock } from '../../src/util/clock.ts';
import { PG_URL } from '../support/postgres.ts';

/**
 * Issue 13, "Config as a live value that every module reads", for billing's settings: the tax
 * rate, the dunning retry days and the payment rail were read once at start, so a `tollgate dev`
 * reload that changed them kept billing with the old ones until a restart. Here the config is
 * reloaded as `tollgate dev` does on a file change (`reloadConfig`), and the next invoice issued
 * through the admin API follows the new settings. Over real PostgreSQL.
 */
const TOKEN = 'reload-billing-settings-token-0123456789';
const schema = `t_${randomBytes(6).toString('hex')}`;
const clock = new ManualClock('2026-03-01T00:00:00Z');
const DAY = 86_400_000;
let tollgate: Tollgate;
let dataDir: string;

function configWith(billing: Record<string, unknown>): ResolvedConfig {
  return resolveConfig(
    {
      upstream: 'http://127.0.0.1:1',
      admin: { token: TOKEN },
      billing,
      plans: [
        { key: 'pro', name: 'Pro', rateCards: [{ key: 'base', price: { type: 'flat', amount: '10.00' } }] },
      ],
    },
    'reload-billing.config.ts',
    dataDir,
  );
}

beforeAll(async () => {
  const admin = await openPostgresStore(PG_URL, { max: 1 });
  await admin.exec(`create schema ${schema}`);
  await admin.close();
  const url = new URL(PG_URL);
  url.searchParams.set('options', `-c search_path=${schema}`);
  dataDir = mkdtempSync(join(tmpdir(), 'tollgate-reload-billing-settings-'));
  tollgate = await startTollgate({
    config: configWith({ rail: { type: 'invoice', netDays: 30 }, taxRate: '0.10' }),
    database: url.toString(),
    dataDir,
    gatewayPort: 0,
    consolePort: 0,
    clock,
    dev: true,
  });
}, 180_000);

afterAll(async () => {
  await tollgate?.stop();
  const admin = await openPostgresStore(PG_URL, { max: 1 });
  await admin.exec(`drop schema if exists ${schema} cascade`);
  await admin.close();
  rmSync(dataDir, { recursive: true, force: true });
});

async function call(method: string, path: string, body?: unknown) {
  const response = await fetch(`${tollgate.consoleUrl}/api/admin${path}`, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  // biome-ignore lint/suspicious/noExplicitAny: test convenience; assertions check the shape.
  return { status: response.status, json: (text ? JSON.parse(text) : null) as any };
}

async function issueInvoice(customerId: string) {
  const created = await call('POST', '/invoices', {
    customerId,
    currency: 'USD',
    lines: [{ description: 'Consulting', unitPrice: '100.00' }],
    issue: true,
  });
  expect(created.status).toBe(201);
  return created.json as { id: string; tax: string; total: string; dueAt: string; status: string };
}

describe('billing settings after a config reload', () => {
  it('the next invoice uses the reloaded tax rate, net terms, rail and retry days', async () => {
    const customer = (await call('POST', '/customers', { name: 'Live Co', email: 'live@example.com' })).json;

    const before = await issueInvoice(customer.id);
    expect(before).toMatchObject({ tax: '10.00', total: '110.00', status: 'issued' });
    expect(new Date(before.dueAt).getTime() - clock.now().getTime()).toBe(30 * DAY);

    await tollgate.reloadConfig(configWith({ rail: { type: 'invoice', netDays: 7 }, taxRate: '0.20' }));
    const after = await issueInvoice(customer.id);
    expect(after).toMatchObject({ tax: '20.00', total: '120.00', status: 'issued' });
    expect(new Date(after.dueAt).getTime() - clock.now().getTime()).toBe(7 * DAY);
    // What was issued before keeps its own rate.
    expect((await call('GET', `/invoices/${before.id}`)).json.taxRate).toBe('0.1');

    // The rail switched to the sandbox: a saved card is charged at issue; a declined charge is
    // retried on the reloaded retry days.
    await tollgate.reloadConfig(configWith({ rail: 'sandbox', taxRate: '0.20', retryDays: [2, 4] }));
    await tollgate.billing.attachCard(customer.id, '4242424242424242');
    const charged = await issueInvoice(customer.id);
    await expect
      .poll(async () => (await call('GET', `/invoices/${charged.id}`)).json.status, { timeout: 60_000 })
      .toBe('paid');

    const declining = (await call('POST', '/customers', { name: 'Declined Co', email: 'no@example.com' }))
      .json;
    await tollgate.billing.attachCard(declining.id, '4000000000000002');
    const declined = await issueInvoice(declining.id);
    const retryAt = async () => (await call('GET', `/invoices/${declined.id}`)).json.nextPaymentAttemptAt;
    await expect
      .poll(retryAt, { timeout: 60_000 })
      .toBe(new Date(clock.now().getTime() + 2 * DAY).toISOString());
  }, 180_000);
});
