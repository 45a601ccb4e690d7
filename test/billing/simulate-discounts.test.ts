import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SandboxRail } from '../../src/billing/index.ts';
import { testCatalog } from '../support/catalog.ts';
import { type Harness, openHarness } from './harness.ts';

/**
 * `tollgate simulate` with discounts: a period re-rated by simulate carries the same discount
 * lines, in the same order and to the cent, as the invoice the billing run issued for it (the
 * customer's percentage on the whole invoice and fixed amount on one rate card); `--coupon`
 * adds a coupon to every customer's "after" as its own line.
 */
let h: Harness;

beforeAll(async () => {
  h = await openHarness({
    config: testCatalog({
      plans: [
        {
          key: 'tokens',
          name: 'Tokens',
          rateCards: [
            { key: 'base', name: 'Tokens plan', price: { type: 'flat', amount: '20.00' } },
            {
              key: 'requests',
              name: 'Requests',
              feature: 'api_requests',
              price: { type: 'unit', amount: '0.01', includedUnits: 1000 },
            },
          ],
        },
      ],
    }),
  });
});
afterAll(async () => {
  await h.store.close();
});

describe('simulate with discounts', () => {
  it('gives the numbers of the issued invoice, each discount its own line; --coupon adds one', async () => {
    const discounts = h.billing.service.discounts;
    h.clock.set('2026-03-01T00:00:00Z');
    await discounts.createCoupon({ code: 'TENPCT', percentOff: '10', duration: 'forever' });
    await discounts.createCoupon({
      code: 'REQ5',
      amountOff: '5.00',
      currency: 'USD',
      duration: 'forever',
      rateCardKeys: ['requests'],
    });
    await discounts.createCoupon({ code: 'WHATIF', percentOff: '50', maxRedemptions: 1 });
    const customer = await h.customers.create({ name: 'Simulated', email: 'simulated@example.com' });
    const sub = await h.subscriptions.subscribe({ customerId: customer.id, planKey: 'tokens' });
    await h.billing.service.attachCard(customer.id, '4242 4242 4242 4242');
    await discounts.redeem({ code: 'TENPCT', customerId: customer.id, currency: 'USD' });
    await discounts.redeem({ code: 'REQ5', customerId: customer.id, currency: 'USD' });
    h.usage.set(customer.id, { api_requests: '3000' });
    h.clock.set('2026-04-01T00:00:05Z');
    await h.billing.service.runBilling();
    await (h.billing.rail as SandboxRail).drain();
    const [invoice] = (await h.billing.service.list({ subscriptionId: sub.id })).filter(
      (i) => i.periodFrom === '2026-03-01T00:00:00.000Z',
    );
    const invoiceDiscounts = invoice!.lines
      .filter((l) => l.kind === 'discount')
      .map((l) => ({ description: l.description, amount: l.amount }));
    // requests: 2,000 units past the 1,000 included at 0.01 = 20.00, less 5.00; then 10 % of 35.00.
    expect(invoiceDiscounts).toEqual([
      { description: 'Coupon REQ5 (5.00 USD off requests)', amount: '-5.00' },
      { description: 'Coupon TENPCT (10% off)', amount: '-3.50' },
    ]);

    const [row] = await h.billing.service.simulate('tokens', new Date('2026-03-01'), new Date('2026-04-01'));
    expect(row).toMatchObject({
      subscriptionId: sub.id,
      before: invoice!.subtotal,
      after: invoice!.subtotal,
      discountsBefore: invoiceDiscounts,
      discountsAfter: invoiceDiscounts,
    });

    const [withCoupon] = await h.billing.service.simulate(
      'tokens',
      new Date('2026-03-01'),
      new Date('2026-04-01'),
      { coupon: 'whatif' },
    );
    expect(withCoupon).toMatchObject({
      before: invoice!.subtotal,
      after: '15.75',
      discountsAfter: [...invoiceDiscounts, { description: 'Coupon WHATIF (50% off)', amount: '-15.75' }],
    });
    // A what-if: the coupon was not redeemed.
    expect((await discounts.getCoupon('WHATIF')).timesRedeemed).toBe(0);
    await expect(
      h.billing.service.simulate('tokens', new Date('2026-03-01'), new Date('2026-04-01'), {
        coupon: 'NOPE',
      }),
    ).rejects.toMatchObject({ status: 404 });
  });
});
