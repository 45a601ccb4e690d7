import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SandboxRail } from '../../src/billing/index.ts';
import { testCatalog, testPlans } from '../support/catalog.ts';
import { type Harness, openHarness } from './harness.ts';

/**
 * Coupons end to end: an operator creates a coupon, a customer gets it (operator or portal
 * checkout), the billing run adds a discount line per invoice it applies to, and the sandbox
 * rail collects the discounted total. Stripe's coupon durations (once / repeating / forever,
 * stripe-node types/Coupons.d.ts) and limits (max_redemptions, redeem_by).
 */
let h: Harness;
let n = 0;

beforeAll(async () => {
  h = await openHarness({
    config: testCatalog({
      plans: [
        testPlans.pro,
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

async function customerOn(planKey: string, start: string) {
  h.clock.set(start);
  const customer = await h.customers.create({ name: `Org ${++n}`, email: `org${n}@example.com` });
  const sub = await h.subscriptions.subscribe({ customerId: customer.id, planKey });
  await h.billing.service.attachCard(customer.id, '4242 4242 4242 4242');
  return { customer, sub };
}

async function runAt(iso: string) {
  h.clock.set(iso);
  await h.billing.service.runBilling();
  await (h.billing.rail as SandboxRail).drain();
}

const summary = async (subscriptionId: string) =>
  (await h.billing.service.list({ subscriptionId }))
    .sort((a, b) => a.periodFrom.localeCompare(b.periodFrom))
    .map((i) => [
      i.periodFrom.slice(0, 7),
      i.total,
      i.status,
      i.lines.filter((l) => l.kind === 'discount').map((l) => l.amount),
    ]);

describe('coupons and discounts billed end to end', () => {
  it('20 % off for 2 periods (repeating), applied by an operator: two discounted invoices, then full price', async () => {
    const discounts = h.billing.service.discounts;
    await discounts.createCoupon({
      code: 'twomonths',
      percentOff: '20',
      duration: 'repeating',
      durationPeriods: 2,
    });
    const { customer, sub } = await customerOn('pro', '2026-01-01T00:00:00Z');
    await discounts.redeem({ code: 'TWOMONTHS', customerId: customer.id, currency: 'USD' });
    for (const at of ['2026-02-01T00:00:05Z', '2026-03-01T00:00:05Z', '2026-04-01T00:00:05Z'])
      await runAt(at);
    expect(await summary(sub.id)).toEqual([
      ['2026-01', '39.20', 'paid', ['-9.80']],
      ['2026-02', '39.20', 'paid', ['-9.80']],
      ['2026-03', '49.00', 'paid', []],
    ]);
    await h.subscriptions.cancel(sub.id, { timing: 'now' });
  });

  it('a fixed amount on the usage rate card only, forever: the flat fee is untouched', async () => {
    const discounts = h.billing.service.discounts;
    await discounts.createCoupon({
      code: 'USAGE5',
      amountOff: '5',
      currency: 'USD',
      duration: 'forever',
      rateCardKeys: ['requests'],
    });
    const { customer, sub } = await customerOn('tokens', '2026-01-01T00:00:00Z');
    await discounts.redeem({ code: 'usage5', customerId: customer.id, currency: 'USD' });
    h.usage.set(customer.id, { api_requests: '1300' }); // 300 over the 1,000 included: $3.00
    await runAt('2026-02-01T00:00:05Z');
    const [invoice] = await h.billing.service.list({ subscriptionId: sub.id });
    expect(invoice?.lines.map((l) => [l.description, l.amount])).toEqual([
      ['Tokens plan', '20.00'],
      ['Requests (1000 included)', '3.00'],
      ['Coupon USAGE5 (5.00 USD off requests)', '-3.00'],
    ]);
    expect(invoice).toMatchObject({ status: 'paid', total: '20.00' });
    await h.subscriptions.cancel(sub.id, { timing: 'now' });
  });

  it('redemption limits and expiry are enforced, and a bad code changes nothing', async () => {
    const discounts = h.billing.service.discounts;
    h.clock.set('2026-05-01T00:00:00Z');
    await discounts.createCoupon({ code: 'ONLYONE', percentOff: '10', maxRedemptions: 1 });
    await discounts.createCoupon({ code: 'OLD', percentOff: '10', redeemBy: '2026-04-30T00:00:00Z' });
    const a = await h.customers.create({ name: 'A', email: 'a@example.com' });
    const b = await h.customers.create({ name: 'B', email: 'b@example.com' });
    await discounts.redeem({ code: 'ONLYONE', customerId: a.id, currency: 'USD' });
    await expect(
      discounts.redeem({ code: 'ONLYONE', customerId: a.id, currency: 'USD' }),
    ).rejects.toMatchObject({
      status: 409,
      detail: 'This customer has already redeemed coupon "ONLYONE".',
    });
    await expect(
      discounts.redeem({ code: 'ONLYONE', customerId: b.id, currency: 'USD' }),
    ).rejects.toMatchObject({
      status: 409,
      type: 'coupon-exhausted',
      detail: expect.stringContaining('redeemed the most times'),
    });
    await expect(discounts.redeem({ code: 'OLD', customerId: b.id, currency: 'USD' })).rejects.toMatchObject({
      status: 400,
      detail: expect.stringContaining('expired'),
    });
    await expect(discounts.redeem({ code: 'NOPE', customerId: b.id, currency: 'USD' })).rejects.toMatchObject(
      {
        status: 404,
      },
    );
    expect(await discounts.listForCustomer(b.id)).toEqual([]);
    expect((await discounts.getCoupon('onlyone')).timesRedeemed).toBe(1);
  });

  it('a coupon entered at checkout discounts the first invoice, charged at once', async () => {
    const discounts = h.billing.service.discounts;
    h.clock.set('2026-06-01T00:00:00Z');
    await discounts.createCoupon({ code: 'WELCOME', percentOff: '50', duration: 'once' });
    const customer = await h.customers.create({ name: 'Checkout', email: 'checkout@example.com' });
    await expect(
      h.billing.service.startCheckout(customer.id, 'pro', { card: '4242 4242 4242 4242', coupon: 'WRONG' }),
    ).rejects.toMatchObject({ status: 404 });
    expect(await h.subscriptions.currentForCustomer(customer.id)).toBeFalsy();
    const { invoice } = await h.billing.service.startCheckout(customer.id, 'pro', {
      card: '4242 4242 4242 4242',
      coupon: 'welcome',
    });
    await (h.billing.rail as SandboxRail).drain();
    expect(await h.billing.service.mustGet(invoice?.id as string)).toMatchObject({
      status: 'paid',
      total: '24.50',
    });
    expect(invoice?.lines.map((l) => [l.description, l.amount])).toEqual([
      ['Pro subscription', '49.00'],
      ['Coupon WELCOME (50% off)', '-24.50'],
    ]);
    // "once": the period's own invoice (nothing left to bill) and the next period are not discounted again.
    const sub = await h.subscriptions.currentForCustomer(customer.id);
    await runAt('2026-07-01T00:00:05Z');
    await runAt('2026-08-01T00:00:05Z');
    const totals = (await h.billing.service.list({ subscriptionId: sub?.id }))
      .sort((x, y) => x.createdAt.localeCompare(y.createdAt))
      .map((i) => i.total);
    expect(totals).toEqual(['24.50', '0.00', '49.00']);
  });

  it('a declined first charge with a coupon can be tried again with another card, the coupon kept', async () => {
    const discounts = h.billing.service.discounts;
    h.clock.set('2026-09-01T00:00:00Z');
    await discounts.createCoupon({ code: 'RETRY', amountOff: '10', currency: 'USD', maxRedemptions: 1 });
    const customer = await h.customers.create({ name: 'Retry', email: 'retry@example.com' });
    const declined = await h.billing.service.startCheckout(customer.id, 'pro', {
      card: '4000 0000 0000 0002',
      coupon: 'RETRY',
    });
    await (h.billing.rail as SandboxRail).drain();
    expect((await h.billing.service.mustGet(declined.invoice?.id as string)).status).toBe('void');
    const { invoice } = await h.billing.service.startCheckout(customer.id, 'pro', {
      card: '4242 4242 4242 4242',
      coupon: 'RETRY',
    });
    await (h.billing.rail as SandboxRail).drain();
    expect(await h.billing.service.mustGet(invoice?.id as string)).toMatchObject({
      status: 'paid',
      total: '39.00',
    });
    expect((await discounts.getCoupon('RETRY')).timesRedeemed).toBe(1);
  });
});
