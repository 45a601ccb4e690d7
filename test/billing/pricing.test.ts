import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SandboxRail } from '../../src/billing/index.ts';
import { testCatalog } from '../support/catalog.ts';
import { type Harness, openHarness } from './harness.ts';

/**
 * Prices end to end: config → usage → billing run → invoice → payment on the sandbox rail.
 * Worked examples: OpenMeter's graduated tiers with a flat first tier
 * (openmeter/billing/rating/service/rate/tieredgraduated_test.go) and Lago's package price with
 * free units (getlago.com/docs/guide/plans/charges/charge-models/package).
 */
let h: Harness;
let n = 0;

beforeAll(async () => {
  h = await openHarness({
    config: testCatalog({
      plans: [
        {
          key: 'platform',
          name: 'Platform',
          rateCards: [
            {
              key: 'calls',
              name: 'Platform fee and calls',
              feature: 'api_requests',
              price: {
                type: 'tiered',
                mode: 'graduated',
                tiers: [{ upTo: 1000, flatPrice: '500' }, { unitPrice: '0.40' }],
              },
            },
          ],
        },
        {
          key: 'packs',
          name: 'Packs',
          rateCards: [
            {
              key: 'calls',
              name: 'Calls',
              feature: 'api_requests',
              price: { type: 'package', amount: '5', quantityPerPackage: 100, includedUnits: 100 },
            },
          ],
        },
        {
          key: 'premium',
          name: 'Premium',
          billingAnchor: { dayOfMonth: 1 },
          rateCards: [{ key: 'base', name: 'Premium', price: { type: 'flat', amount: '50.00' } }],
        },
        {
          key: 'premium_trial',
          name: 'Premium with trial',
          billingAnchor: { dayOfMonth: 1 },
          trialDays: 5,
          rateCards: [{ key: 'base', name: 'Premium', price: { type: 'flat', amount: '50.00' } }],
        },
      ],
    }),
  });
});
afterAll(async () => {
  await h.store.close();
});

async function billedPeriod(
  planKey: string,
  used: string,
  start = '2026-01-01T00:00:00Z',
  runs = ['2026-02-01T00:00:05Z'],
) {
  h.clock.set(start);
  const customer = await h.customers.create({ name: `Org ${++n}`, email: `org${n}@example.com` });
  const sub = await h.subscriptions.subscribe({ customerId: customer.id, planKey });
  await h.billing.service.attachCard(customer.id, '4242 4242 4242 4242');
  h.usage.set(customer.id, { api_requests: used });
  for (const at of runs) {
    h.clock.set(at);
    await h.billing.service.runBilling();
    await (h.billing.rail as SandboxRail).drain();
  }
  await h.subscriptions.cancel(sub.id, { timing: 'now' });
  const invoices = await h.billing.service.list({ subscriptionId: sub.id });
  return invoices.sort((a, b) => a.periodFrom.localeCompare(b.periodFrom))[0];
}

describe('prices billed end to end', () => {
  it('an idle month on a graduated price with a flat first tier bills and collects the $500 fee', async () => {
    const invoice = await billedPeriod('platform', '0');
    expect(invoice).toMatchObject({ status: 'paid', total: '500.00', amountDue: '500.00' });
    expect(invoice?.lines.map((l) => [l.description, l.quantity, l.amount])).toEqual([
      ['Platform fee and calls', '0', '500.00'],
    ]);
  });

  it('the same price past the first tier: $500 + 200 × $0.40', async () => {
    const invoice = await billedPeriod('platform', '1200');
    expect(invoice).toMatchObject({ status: 'paid', total: '580.00' });
  });

  it('Lago package with 100 free units: 201 calls → 2 packages of 100 at $5 = $10, paid', async () => {
    const invoice = await billedPeriod('packs', '201');
    expect(invoice).toMatchObject({ status: 'paid', total: '10.00' });
    expect(invoice?.lines.map((l) => [l.description, l.quantity, l.amount])).toEqual([
      ['Calls (2 × 100 units) (100 included)', '201', '10.00'],
    ]);
  });
});

describe('calendar billing end to end', () => {
  it('Lago calendar billing: $50 monthly from Aug 10 → 22 days × $50 / 31 days = $35.48, then whole months', async () => {
    // getlago.com/docs/guide/subscriptions/assign-plan ("Calendar billing period"). Proration is by
    // second; a subscription starting at midnight makes it the same as Lago's by day.
    const first = await billedPeriod('premium', '0', '2026-08-10T00:00:00Z', ['2026-09-01T00:00:05Z']);
    expect(first).toMatchObject({
      status: 'paid',
      total: '35.48',
      periodFrom: '2026-08-10T00:00:00.000Z',
      periodTo: '2026-09-01T00:00:00.000Z',
    });
    expect(first?.lines.map((l) => [l.description, l.quantity, l.amount])).toEqual([
      ['Premium (prorated)', '0.709677', '35.48'],
    ]);
    h.clock.set('2026-08-10T00:00:00Z');
    const customer = await h.customers.create({ name: 'Whole months', email: 'months@example.com' });
    const sub = await h.subscriptions.subscribe({ customerId: customer.id, planKey: 'premium' });
    await h.billing.service.attachCard(customer.id, '4242 4242 4242 4242');
    for (const at of ['2026-09-01T00:00:05Z', '2026-10-01T00:00:05Z']) {
      h.clock.set(at);
      await h.billing.service.runBilling();
      await (h.billing.rail as SandboxRail).drain();
    }
    const invoices = await h.billing.service.list({ subscriptionId: sub.id });
    expect(
      invoices.map((i) => [i.periodFrom.slice(0, 10), i.periodTo.slice(0, 10), i.total, i.status]).sort(),
    ).toEqual([
      ['2026-08-10', '2026-09-01', '35.48', 'paid'],
      ['2026-09-01', '2026-10-01', '50.00', 'paid'],
    ]);
    await h.subscriptions.cancel(sub.id, { timing: 'now' });
  });

  it('Lago trial example: 5-day trial from Apr 1, then Apr 6–30 billed $50 × 25 / 30 = $41.67', async () => {
    // getlago.com/docs/guide/plans/plan-model ("Trial period"): the trial sits inside April.
    h.clock.set('2026-04-01T00:00:00Z');
    const customer = await h.customers.create({ name: 'Trial', email: 'trial@example.com' });
    const sub = await h.subscriptions.subscribe({ customerId: customer.id, planKey: 'premium_trial' });
    await h.billing.service.attachCard(customer.id, '4242 4242 4242 4242');
    for (const at of ['2026-04-06T00:00:05Z', '2026-05-01T00:00:05Z']) {
      h.clock.set(at);
      await h.billing.service.runBilling();
      await (h.billing.rail as SandboxRail).drain();
    }
    const invoices = await h.billing.service.list({ subscriptionId: sub.id });
    expect(invoices.map((i) => [i.periodFrom.slice(0, 10), i.periodTo.slice(0, 10), i.total]).sort()).toEqual(
      [
        ['2026-04-01', '2026-04-06', '0.00'],
        ['2026-04-06', '2026-05-01', '41.67'],
      ],
    );
    await h.subscriptions.cancel(sub.id, { timing: 'now' });
  });
});
