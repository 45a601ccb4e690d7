import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SandboxRail } from '../../src/billing/index.ts';
import { type Harness, openHarness } from './harness.ts';

// The billing run rolls each batch of subscriptions over in one transaction before invoicing
// them in groups: plain renewals, scheduled cancels and scheduled downgrades side by side must
// each end up as if rolled one by one.
let h: Harness;
beforeAll(async () => {
  h = await openHarness();
});
afterAll(async () => {
  await h.store.close();
});

describe('billing run over a mixed batch', () => {
  it('renews, cancels and downgrades at the period end, one paid invoice each', async () => {
    h.clock.set('2028-03-01T00:00:00Z');
    const subs: Record<string, string> = {};
    for (const kind of ['renew', 'cancel', 'downgrade', 'renew2']) {
      const customer = await h.customers.create({ name: kind, email: `${kind}@example.com` });
      const sub = await h.subscriptions.subscribe({
        customerId: customer.id,
        planKey: kind === 'downgrade' ? 'growth' : 'pro',
      });
      await h.billing.service.attachCard(customer.id, '4242424242424242');
      subs[kind] = sub.id;
    }
    await (h.billing.rail as SandboxRail).drain();
    await h.subscriptions.cancel(subs.cancel as string, { timing: 'period_end' });
    await h.subscriptions.changePlan(subs.downgrade as string, { planKey: 'pro', timing: 'period_end' });

    h.clock.set('2028-04-01T00:00:05Z');
    const summary = await h.billing.service.runBilling();
    await (h.billing.rail as SandboxRail).drain();
    expect(summary.failed).toBe(0);

    for (const [kind, id] of Object.entries(subs)) {
      const invoices = (await h.billing.service.list({ subscriptionId: id })).filter(
        (i) => i.periodFrom === '2028-03-01T00:00:00.000Z' && i.status !== 'void',
      );
      expect(
        invoices.map((i) => i.status),
        kind,
      ).toEqual(['paid']);
      const sub = await h.subscriptions.require(id);
      const periods = await h.subscriptions.periods(id);
      const march = periods.find((p) => p.from.toISOString() === '2028-03-01T00:00:00.000Z');
      expect(march?.closedAt, kind).not.toBeNull();
      const april = periods.find((p) => p.from.toISOString() === '2028-04-01T00:00:00.000Z');
      if (kind === 'cancel') {
        expect(sub.status).toBe('canceled');
        expect(sub.endedAt?.toISOString()).toBe('2028-04-01T00:00:00.000Z');
        expect(april).toBeUndefined();
      } else {
        expect(sub.status).toBe('active');
        expect(sub.currentPeriod.from.toISOString()).toBe('2028-04-01T00:00:00.000Z');
        expect(sub.currentPeriod.to.toISOString()).toBe('2028-05-01T00:00:00.000Z');
        expect(sub.planKey).toBe('pro');
        expect(april?.closedAt ?? null).toBeNull();
      }
    }

    // A second run finds nothing left to bill.
    h.clock.set('2028-04-01T00:01:00Z');
    const again = await h.billing.service.runBilling();
    expect(again.invoicesCreated).toBe(0);
  });
});
