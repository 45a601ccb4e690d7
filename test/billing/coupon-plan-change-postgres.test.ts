import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SandboxRail } from '../../src/billing/index.ts';
import { createSandboxRail } from '../../src/billing/rails/sandbox.ts';
import { openTestPostgres } from '../support/postgres.ts';
import { type Harness, openHarness } from './harness.ts';

/**
 * A customer who already has a subscription checks out another plan with a coupon: the coupon's
 * redemption and the plan change are one transaction over real PostgreSQL. A plan change the
 * database refuses leaves the coupon unredeemed (the customer can use it later, its count is
 * unchanged); a coupon refused leaves the plan as it was; both going through give the new plan
 * with the discount.
 */
let h: Harness;
let drop: () => Promise<void>;
const CARD = '4242 4242 4242 4242';

beforeAll(async () => {
  const pg = await openTestPostgres();
  drop = pg.drop;
  h = await openHarness({ store: pg.store, rail: (store) => createSandboxRail(store.db) });
  // A plan change that fails inside its transaction, after the coupon was redeemed in it:
  // PostgreSQL refuses any subscription moved to "enterprise".
  await h.store.query(`create function refuse_enterprise() returns trigger language plpgsql as $$
    begin
      if new.plan_key = 'enterprise' then raise exception 'plan change refused by the database'; end if;
      return new;
    end $$`);
  await h.store.query(`create trigger refuse_enterprise before update on subscriptions
    for each row execute function refuse_enterprise()`);
}, 60_000);
afterAll(async () => {
  await drop?.();
});

/** A customer subscribed to growth, its first invoice paid. */
async function subscribedToGrowth(name: string) {
  const customer = await h.customers.create({ name, email: `${name.replace(/\W/g, '')}@example.com` });
  await h.billing.service.startCheckout(customer.id, 'growth', { card: CARD });
  await (h.billing.rail as SandboxRail).drain();
  expect((await h.subscriptions.currentForCustomer(customer.id))?.planKey).toBe('growth');
  return customer;
}

describe('a plan change with a coupon', () => {
  it('a plan change that fails leaves the coupon unredeemed and the plan as it was', async () => {
    await h.billing.service.discounts.createCoupon({ code: 'MOVEUP', percentOff: '20', maxRedemptions: 5 });
    const customer = await subscribedToGrowth('Refused Change Co');

    await expect(
      h.billing.service.startCheckout(customer.id, 'enterprise', { card: CARD, coupon: 'moveup' }),
    ).rejects.toThrow(/plan change refused by the database/);

    expect((await h.subscriptions.currentForCustomer(customer.id))?.planKey).toBe('growth');
    expect(await h.billing.service.discounts.listForCustomer(customer.id)).toEqual([]);
    expect((await h.billing.service.discounts.getCoupon('MOVEUP')).timesRedeemed).toBe(0);
  });

  it('a coupon refused (used up) leaves the plan as it was', async () => {
    await h.billing.service.discounts.createCoupon({ code: 'GONE', percentOff: '20', maxRedemptions: 1 });
    const first = await h.customers.create({ name: 'First Co', email: 'first-gone@example.com' });
    await h.billing.service.discounts.redeem({ code: 'GONE', customerId: first.id, currency: 'USD' });
    const customer = await subscribedToGrowth('Late Co');

    await expect(
      h.billing.service.startCheckout(customer.id, 'pro', { card: CARD, coupon: 'gone' }),
    ).rejects.toMatchObject({ status: 409 });

    expect((await h.subscriptions.currentForCustomer(customer.id))?.planKey).toBe('growth');
    expect(await h.billing.service.discounts.listForCustomer(customer.id)).toEqual([]);
  });

  it('both going through: the new plan, and the discount on the changed subscription', async () => {
    await h.billing.service.discounts.createCoupon({ code: 'UPGRADE', percentOff: '20', maxRedemptions: 5 });
    const customer = await subscribedToGrowth('Upgrade Co');

    await h.billing.service.startCheckout(customer.id, 'pro', { card: CARD, coupon: 'upgrade' });

    const sub = await h.subscriptions.currentForCustomer(customer.id);
    expect(sub?.planKey).toBe('pro');
    const discounts = await h.billing.service.discounts.listForCustomer(customer.id);
    expect(discounts).toHaveLength(1);
    expect(discounts[0]).toMatchObject({ couponCode: 'UPGRADE', subscriptionId: sub?.id });
    expect((await h.billing.service.discounts.getCoupon('UPGRADE')).timesRedeemed).toBe(1);
  });
});
