import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTollgate, type Tollgate } from '../../src/app.ts';
import { createLogger } from '../../src/util/log.ts';
import { catalogConfig } from '../entitlements/fixtures.ts';
import { tempDataDir } from '../support/tollgate.ts';

/** Coupons and discounts through the admin API, as an operator uses them. */
const TOKEN = 'admin-token-for-coupon-tests-0123456789';
let tollgate: Tollgate;

beforeAll(async () => {
  const config = catalogConfig();
  config.admin.token = TOKEN;
  tollgate = await startTollgate({
    config,
    database: ':memory:',
    dataDir: tempDataDir('coupons-test'),
    role: 'console',
    consolePort: 0,
    log: createLogger({ level: 'silent' }),
  });
}, 180_000);
afterAll(async () => tollgate?.stop());

const call = (method: string, path: string, body?: unknown, token: string | null = TOKEN) =>
  tollgate.consoleApp.request(`/api/admin${path}`, {
    method,
    headers: {
      ...(token && { authorization: `Bearer ${token}` }),
      ...(body !== undefined && { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });

// biome-ignore lint/suspicious/noExplicitAny: test reads arbitrary JSON bodies.
const json = async (res: Response) => (await res.json()) as Record<string, any>;

describe('coupons in the admin API', () => {
  it('creates, lists, applies and archives a coupon; errors are problem+json naming the field', async () => {
    expect((await call('GET', '/coupons', undefined, null)).status).toBe(401);

    const bad = await call('POST', '/coupons', { code: 'HALF', percentOff: '150' });
    expect(bad.status).toBe(400);
    expect(bad.headers.get('content-type')).toContain('application/problem+json');
    expect((await json(bad)).errors).toEqual([
      { path: 'percentOff', message: 'percentOff is at most "100"' },
    ]);
    expect((await json(await call('GET', '/coupons'))).data).toEqual([]);

    const created = await call('POST', '/coupons', { code: 'half', percentOff: '50', maxRedemptions: 10 });
    expect(created.status).toBe(201);
    expect(await json(created)).toMatchObject({
      code: 'HALF',
      percentOff: '50',
      duration: 'once',
      timesRedeemed: 0,
    });
    expect((await call('POST', '/coupons', { code: 'HALF', percentOff: '10' })).status).toBe(409);

    const customer = await tollgate.customers.create({ name: 'Acme', email: 'acme@example.com' });
    await tollgate.subscriptions.subscribe({ customerId: customer.id, planKey: 'pro', trial: false });
    const applied = await call('POST', `/customers/${customer.id}/discounts`, { code: 'half' });
    expect(applied.status).toBe(201);
    const discount = await json(applied);
    expect(discount).toMatchObject({ couponCode: 'HALF', customerId: customer.id, removedAt: null });
    expect((await call('POST', `/customers/${customer.id}/discounts`, { code: 'HALF' })).status).toBe(409);
    expect((await json(await call('GET', `/customers/${customer.id}/discounts`))).data).toHaveLength(1);
    expect((await json(await call('GET', '/coupons/HALF'))).timesRedeemed).toBe(1);

    // The upcoming invoice shows the discount as its own line.
    const sub = await tollgate.subscriptions.currentForCustomer(customer.id);
    const upcoming = await tollgate.billing.upcoming(sub?.id as string);
    expect(upcoming.costToDate.lines.filter((l) => l.kind === 'discount').map((l) => l.description)).toEqual([
      'Coupon HALF (50% off)',
    ]);

    expect((await call('DELETE', `/discounts/${discount.id}`)).status).toBe(200);
    expect((await json(await call('POST', '/coupons/HALF/archive'))).archivedAt).toEqual(expect.any(String));
    expect((await call('GET', '/coupons/NOPE')).status).toBe(404);
  });

  it('lists every coupon route in the admin OpenAPI document', async () => {
    const doc = await json(await call('GET', '/openapi.json'));
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining([
        '/coupons',
        '/coupons/{code}',
        '/coupons/{code}/archive',
        '/customers/{id}/discounts',
        '/discounts/{id}',
      ]),
    );
  });
});
