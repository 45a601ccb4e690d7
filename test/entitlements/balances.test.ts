import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTollgate, type Tollgate } from '../../src/app.ts';
import { ManualClock } from '../../src/util/clock.ts';
import { createLogger } from '../../src/util/log.ts';
import { tempDataDir } from '../support/tollgate.ts';
import { catalogConfig } from './fixtures.ts';

let tollgate: Tollgate;
const clock = new ManualClock('2026-03-01T00:00:00Z');

beforeAll(async () => {
  tollgate = await startTollgate({
    config: catalogConfig({ admin: { token: 'test-admin-token-0123456789' } }),
    database: ':memory:',
    dataDir: tempDataDir('balances'),
    clock,
    role: 'console',
    consolePort: 0,
    log: createLogger({ level: 'silent' }),
  });
});

afterAll(async () => tollgate?.stop());

describe('entitlement balances', () => {
  it('answer zero usage at the very instant a subscription starts', async () => {
    const customer = await tollgate.customers.create({ name: 'Just subscribed' });
    await tollgate.subscriptions.subscribe({ customerId: customer.id, planKey: 'free' });
    const res = await fetch(`${tollgate.consoleUrl}/api/admin/customers/${customer.id}/entitlements`, {
      headers: { authorization: 'Bearer test-admin-token-0123456789' },
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as {
      balances: { featureKey: string; usage: number; remaining: number }[];
    };
    expect(body.balances.find((b) => b.featureKey === 'api_requests')).toMatchObject({
      usage: 0,
      remaining: 1000,
    });
  });
});
