import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configCouponSchema } from '../../src/billing/discounts/model.ts';
import type { SandboxRail } from '../../src/billing/index.ts';
import { createSandboxRail } from '../../src/billing/rails/sandbox.ts';
import { openTestPostgres } from '../support/postgres.ts';
import { billingConfig, type Harness, openHarness } from './harness.ts';

/**
 * The last redemption of a coupon, taken by two customers at once over real PostgreSQL. Both
 * were quoted the discounted price (the coupon had a redemption left); the rail holds both
 * checkouts until both quotes are done, so the race is always the one between the quote and the
 * payment. Exactly one checkout subscribes, is invoiced and charged; the other is refused with
 * 409 `coupon-exhausted` and leaves no subscription, invoice or payment. On a hosted page the
 * same race is for the hold: one customer gets the page with the coupon held, the other a 409.
 */
let h: Harness;
let drop: () => Promise<void>;
/** Checkouts wait here until `expected` of them arrived (all quoted). */
const gate = { expected: 0, arrived: 0, open: () => {}, opened: Promise.resolve() };

function holdUntilAllQuoted(count: number): void {
  gate.expected = count;
  gate.arrived = 0;
  gate.opened = new Promise<void>((resolve) => {
    gate.open = resolve;
  });
}

beforeAll(async () => {
  const pg = await openTestPostgres();
  drop = pg.drop;
  const config = billingConfig();
  config.billing.coupons = [
    configCouponSchema.parse({ code: 'LASTCONFIG', percentOff: '20', maxRedemptions: 1 }),
    configCouponSchema.parse({ code: 'HOLDCONFIG', percentOff: '20', maxRedemptions: 1 }),
  ];
  h = await openHarness({
    store: pg.store,
    config,
    rail: (store) => {
      const sandbox = createSandboxRail(store.db);
      const checkout = sandbox.checkout.bind(sandbox);
      sandbox.checkout = async (input) => {
        gate.arrived += 1;
        if (gate.arrived >= gate.expected) gate.open();
        await gate.opened;
        // Without a card the checkout is on a hosted page, as Stripe Checkout's or Paddle's.
        if (!input.card)
          return { url: `https://hosted.test/${input.customerId}`, sessionId: `cs_${input.customerId}` };
        return checkout(input);
      };
      return sandbox;
    },
  });
}, 60_000);
afterAll(async () => {
  await drop?.();
});

async function leftBehind(customerId: string) {
  const invoices = await h.store.query('select id from billing_invoices where customer_id = $1', [
    customerId,
  ]);
  const payments = await h.store.query('select id from billing_payments where customer_id = $1', [
    customerId,
  ]);
  const discounts = await h.billing.service.discounts.listForCustomer(customerId);
  const subscription = await h.subscriptions.currentForCustomer(customerId);
  return { invoices: invoices.length, payments: payments.length, discounts: discounts.length, subscription };
}

describe('the last redemption of a coupon, two checkouts at once', () => {
  it.each([
    ['created through the admin API', 'LASTSTORE'],
    ['declared in the config', 'LASTCONFIG'],
  ])('a coupon %s: one checkout wins, the other leaves nothing', async (_how, code) => {
    if (code === 'LASTSTORE')
      await h.billing.service.discounts.createCoupon({ code, percentOff: '20', maxRedemptions: 1 });
    const a = await h.customers.create({ name: `A ${code}`, email: `a-${code}@example.com` });
    const b = await h.customers.create({ name: `B ${code}`, email: `b-${code}@example.com` });
    holdUntilAllQuoted(2);
    const results = await Promise.allSettled(
      [a, b].map((c) =>
        h.billing.service.startCheckout(c.id, 'pro', {
          card: '4242 4242 4242 4242',
          coupon: code.toLowerCase(),
        }),
      ),
    );
    await (h.billing.rail as SandboxRail).drain();

    const won = results.findIndex((r) => r.status === 'fulfilled');
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const lost = results[1 - won];
    expect(lost?.status).toBe('rejected');
    const problem = (lost as PromiseRejectedResult).reason.toBody();
    expect(problem).toMatchObject({
      status: 409,
      type: 'https://tollgate.dev/problems/coupon-exhausted',
      detail: `Coupon "${code}" has been redeemed the most times it can be.`,
    });

    const winner = [a, b][won]?.id as string;
    const loser = [a, b][1 - won]?.id as string;
    const invoice = (
      results[won] as PromiseFulfilledResult<Awaited<ReturnType<typeof h.billing.service.startCheckout>>>
    ).value.invoice;
    expect(await h.billing.service.mustGet(invoice?.id as string)).toMatchObject({
      status: 'paid',
      total: '39.20',
    });
    expect(await leftBehind(winner)).toMatchObject({ invoices: 1, payments: 1, discounts: 1 });
    expect(await leftBehind(loser)).toEqual({ invoices: 0, payments: 0, discounts: 0, subscription: null });
    expect((await h.billing.service.discounts.getCoupon(code)).timesRedeemed).toBe(1);
  });

  it.each([
    ['created through the admin API', 'HOLDSTORE'],
    ['declared in the config', 'HOLDCONFIG'],
  ])(
    'a coupon %s on two hosted pages at once: one customer holds it, the other gets no page',
    async (_how, code) => {
      if (code === 'HOLDSTORE')
        await h.billing.service.discounts.createCoupon({ code, percentOff: '20', maxRedemptions: 1 });
      const a = await h.customers.create({ name: `A ${code}`, email: `a-${code}@example.com` });
      const b = await h.customers.create({ name: `B ${code}`, email: `b-${code}@example.com` });
      holdUntilAllQuoted(2);
      const results = await Promise.allSettled(
        [a, b].map((c) => h.billing.service.startCheckout(c.id, 'pro', { coupon: code.toLowerCase() })),
      );

      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      const won = results.findIndex((r) => r.status === 'fulfilled');
      const lost = results[1 - won] as PromiseRejectedResult;
      expect(lost.reason.toBody()).toMatchObject({
        status: 409,
        type: 'https://tollgate.dev/problems/coupon-exhausted',
      });
      const winner = [a, b][won]?.id as string;
      expect((results[won] as PromiseFulfilledResult<{ url: string | null }>).value.url).toBe(
        `https://hosted.test/${winner}`,
      );
      // Nothing is redeemed before the page completes; a third customer is told "used up" at once.
      expect((await h.billing.service.discounts.getCoupon(code)).timesRedeemed).toBe(0);
      const c = await h.customers.create({ name: `C ${code}`, email: `c-${code}@example.com` });
      await expect(h.billing.service.discounts.check(code, 'USD', c.id)).rejects.toMatchObject({
        status: 409,
      });
      expect(await leftBehind(winner)).toMatchObject({
        invoices: 0,
        payments: 0,
        discounts: 0,
        subscription: null,
      });
    },
  );
});
