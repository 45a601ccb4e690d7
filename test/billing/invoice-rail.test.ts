import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createInvoiceRail } from '../../src/billing/rails/invoice.ts';
import { billingConfig, DAY, type Harness, openHarness } from './harness.ts';

/** Enterprise invoicing (net 30, paid by an admin) with a tax rate; and auto-recharge on sandbox. */
let h: Harness;

beforeAll(async () => {
  h = await openHarness({
    config: billingConfig({
      billing: { rail: { type: 'invoice', netDays: 30 }, taxRate: '0.20', gracePeriodDays: 7 },
    }),
    rail: () => createInvoiceRail(30),
  });
});
afterAll(async () => {
  await h.store.close();
});

describe('invoice rail: net-30 terms, marked paid by an admin', () => {
  it('issues with tax and a due date, goes overdue → past_due → suspended, and paying reactivates at once', async () => {
    const customer = await h.customers.create({ name: 'Enterprise Co', email: 'ap@enterprise.example' });
    const sub = await h.subscriptions.subscribe({ customerId: customer.id, planKey: 'enterprise' });
    h.clock.set('2026-02-01T00:00:00Z');
    await h.billing.service.runBilling();
    const [invoice] = await h.billing.service.list({ subscriptionId: sub.id });
    expect(invoice).toMatchObject({
      status: 'issued',
      subtotal: '499.00',
      taxRate: '0.2',
      tax: '99.80',
      total: '598.80',
      amountDue: '598.80',
      dueAt: '2026-03-03T00:00:00.000Z',
    });
    expect(await h.billing.service.payments(invoice!.id)).toHaveLength(0); // nothing charged automatically

    h.clock.set('2026-03-03T00:00:01Z'); // terms passed
    expect((await h.billing.service.runDunning()).overdue).toBe(1);
    expect((await h.subscriptions.require(sub.id)).status).toBe('past_due');

    h.clock.set(new Date(Date.parse('2026-03-03T00:00:00Z') + 7 * DAY + 1000).toISOString());
    expect((await h.billing.service.runDunning()).suspended).toBe(1);
    expect((await h.subscriptions.require(sub.id)).status).toBe('suspended');

    const paid = await h.billing.service.markPaid(invoice!.id);
    expect(paid.status).toBe('paid');
    expect((await h.subscriptions.require(sub.id)).status).toBe('active');
    expect((await h.billing.service.payments(invoice!.id)).map((p) => [p.rail, p.status])).toEqual([
      ['manual', 'succeeded'],
    ]);
  });
});

describe('auto-recharge (sandbox)', () => {
  it('tops up when a drawdown leaves the balance under the threshold', async () => {
    const sandbox = await openHarness({ start: '2026-01-01T00:00:00Z' });
    try {
      const customer = await sandbox.customers.create({ name: 'Recharge', email: 'rc@example.com' });
      await sandbox.subscriptions.subscribe({ customerId: customer.id, planKey: 'pro' });
      await sandbox.billing.service.attachCard(customer.id, '4242424242424242');
      const credits = sandbox.billing.service.credits;
      await credits.grant({ customerId: customer.id, currency: 'USD', amount: '60.00' });
      await credits.configure({
        customerId: customer.id,
        currency: 'USD',
        autoRecharge: { threshold: '20.00', amount: '50.00' },
      });
      sandbox.clock.set('2026-02-01T00:00:00Z');
      await sandbox.billing.service.runBilling();
      await (sandbox.billing.rail as import('../../src/billing/index.ts').SandboxRail).drain();
      // 60 − 49 = 11 < 20 → +50
      expect(await credits.balance(customer.id, 'USD')).toBe('61.00');
      expect((await credits.ledger(customer.id)).map((e) => e.kind)).toEqual(['grant', 'usage', 'topup']);
    } finally {
      await sandbox.store.close();
    }
  });
});
