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
      ],
    }),
  });
});
afterAll(async () => {
  await h.store.close();
});

async function billedPeriod(planKey: string, used: string) {
  h.clock.set('2026-01-01T00:00:00Z');
  const customer = await h.customers.create({ name: `Org ${++n}`, email: `org${n}@example.com` });
  const sub = await h.subscriptions.subscribe({ customerId: customer.id, planKey });
  await h.billing.service.attachCard(customer.id, '4242 4242 4242 4242');
  h.usage.set(customer.id, { api_requests: used });
  h.clock.set('2026-02-01T00:00:05Z');
  await h.billing.service.runBilling();
  await (h.billing.rail as SandboxRail).drain();
  await h.subscriptions.cancel(sub.id, { timing: 'now' });
  const [invoice] = await h.billing.service.list({ subscriptionId: sub.id });
  return invoice;
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
