import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/index.ts';
import { ADMIN_TOKEN, journeyConfig, type Stack, startStack } from '../browser/stack.ts';
import { PortalClient } from './client.ts';

/**
 * Coupons declared in tollgate.config.ts (`billing.coupons`): redeemed at portal checkout, read
 * from the live config (an edit shows on the next quote), counted in the store, and out of the
 * admin API's reach (409: it lives in the config). A code both in the config and in the store is
 * a config error that leaves the config in force unchanged.
 */
let stack: Stack;
const GOOD = { number: '4242 4242 4242 4242', expiry: '12/30', cvc: '123' };
const LAUNCH = {
  code: 'LAUNCH20',
  percentOff: '20',
  duration: 'repeating' as const,
  durationPeriods: 3,
  maxRedemptions: 100,
  redeemBy: '2099-01-01T00:00:00Z',
};

beforeAll(async () => {
  stack = await startStack({ billing: { coupons: [LAUNCH] } });
}, 180_000);
afterAll(async () => stack?.stop());

const admin = (method: string, path: string, body?: unknown) =>
  stack.tollgate.consoleApp.request(`/api/admin${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });

describe('coupons declared in the config', () => {
  it('a customer checks out with a config coupon; the admin API lists it and refuses to change it', async () => {
    const client = new PortalClient(stack.tollgate.consoleApp, '10.3.0.7');
    const user = await client.signup('cora@config-coupons.test', 'Config Coupons Co');

    const quote = await client.post('/api/portal/checkout/coupon', { planKey: 'pro', code: 'launch20' });
    expect(quote.status).toBe(200);
    expect(quote.json).toMatchObject({ code: 'LAUNCH20', total: '39.20' });

    const paid = await client.post('/api/portal/checkout', {
      planKey: 'pro',
      card: GOOD,
      coupon: 'launch20',
    });
    expect(paid.status).toBe(201);
    const invoice = await stack.tollgate.billing.mustGet(paid.json.invoiceId);
    expect(invoice.lines.map((l) => [l.description, l.amount])).toEqual([
      ['Pro subscription', '49.00'],
      ['Coupon LAUNCH20 (20% off)', '-9.80'],
    ]);
    expect(invoice.total).toBe('39.20');

    const listed = await admin('GET', '/coupons');
    expect((await listed.json()).data).toEqual([
      expect.objectContaining({
        code: 'LAUNCH20',
        source: 'config',
        timesRedeemed: 1,
        maxRedemptions: 100,
        durationPeriods: 3,
        createdAt: null,
      }),
    ]);
    const discounts = await admin('GET', `/customers/${user.customerId}/discounts`);
    expect((await discounts.json()).data).toEqual([
      expect.objectContaining({
        couponCode: 'LAUNCH20',
        coupon: expect.objectContaining({ source: 'config' }),
      }),
    ]);

    for (const [method, path, body] of [
      ['POST', '/coupons', { code: 'launch20', percentOff: '50' }],
      ['POST', '/coupons/LAUNCH20/archive', undefined],
    ] as const) {
      const refused = await admin(method, path, body);
      expect(refused.status).toBe(409);
      expect(refused.headers.get('content-type')).toContain('application/problem+json');
      expect((await refused.json()).detail).toBe(
        'Coupon "LAUNCH20" is declared in the config (billing.coupons); change it there, not through the API.',
      );
    }
    expect((await (await admin('GET', '/coupons/LAUNCH20')).json()).percentOff).toBe('20');
  });

  it('an edited config coupon is in force at once; a code also in the store is refused on reload', async () => {
    const client = new PortalClient(stack.tollgate.consoleApp, '10.3.0.8');
    await client.signup('eve@config-coupons.test', 'Edited Coupons Co');
    const upstream = stack.upstream.url;
    await stack.tollgate.reloadConfig(
      journeyConfig(upstream, { coupons: [{ ...LAUNCH, percentOff: '50' }] }),
    );
    const quote = await client.post('/api/portal/checkout/coupon', { planKey: 'pro', code: 'LAUNCH20' });
    expect(quote.json).toMatchObject({ total: '24.50' });

    expect((await admin('POST', '/coupons', { code: 'STORED10', percentOff: '10' })).status).toBe(201);
    const both = journeyConfig(upstream, {
      coupons: [LAUNCH, { code: 'stored10', percentOff: '15' }],
    });
    const error = await stack.tollgate.reloadConfig(both).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).issues).toEqual([
      {
        path: 'billing.coupons[1].code',
        message:
          'coupon "STORED10" also exists in the store (created through the admin API or CLI); rename one of them',
      },
    ]);
    // Nothing changed: the coupon of the config in force still gives 50 % off.
    const again = await client.post('/api/portal/checkout/coupon', { planKey: 'pro', code: 'LAUNCH20' });
    expect(again.json).toMatchObject({ total: '24.50' });
    expect(stack.tollgate.config.current().billing.coupons.map((c) => c.code)).toEqual(['LAUNCH20']);
  });
});
