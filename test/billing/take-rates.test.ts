import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { meterUsagePort, type SandboxRail } from '../../src/billing/index.ts';
import type { UsageEvent } from '../../src/metering/events.ts';
import { customerSubjectStore, type Metering, startMetering } from '../../src/metering/index.ts';
import { silentLogger } from '../../src/util/log.ts';
import { testCatalog } from '../support/catalog.ts';
import { type Harness, openHarness } from './harness.ts';

/**
 * Take rates end to end: payment events metered into the store, the billing run rates each
 * transaction there (one SQL aggregate), the invoice line carries the exact sum rounded once,
 * and the sandbox rail collects it. Worked example: Lago's percentage charge model
 * (getlago.com/docs/guide/plans/charges/charge-models/percentage): 1.2 % + $0.10, the first
 * 3 events or $500 free; the 4th event of $50 pays $0.70.
 */
let h: Harness;
let metering: Metering;
let dataDir: string;
let seq = 0;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'tollgate-take-rates-'));
  h = await openHarness({
    config: testCatalog({
      meters: [
        {
          slug: 'payments',
          eventType: 'payment',
          aggregation: 'SUM',
          valueProperty: '$.amount',
          groupBy: { method: '$.method' },
        },
      ],
      features: [
        {
          key: 'card_volume',
          name: 'Card payments',
          meter: 'payments',
          meterGroupByFilters: { method: 'card' },
        },
      ],
      plans: [
        {
          key: 'payments',
          name: 'Payments',
          rateCards: [
            {
              key: 'card_fees',
              name: 'Card processing',
              feature: 'card_volume',
              price: {
                type: 'percentage',
                rate: '1.2',
                fixedFee: '0.10',
                freeTransactions: 3,
                freeAmount: '500',
              },
            },
          ],
        },
      ],
    }),
    usagePort: (store, config) =>
      meterUsagePort(
        config,
        () => metering.reader,
        store.db,
        () => h.clock.now(),
      ),
  });
  metering = await startMetering({
    store: h.store,
    config: h.config,
    clock: h.clock,
    log: silentLogger,
    dataDir,
    openLog: false,
    runConsumer: false,
  });
}, 180_000);

afterAll(async () => {
  await metering?.stop();
  await h?.store.close();
  rmSync(dataDir, { recursive: true, force: true });
});

function payment(subject: string, time: string, amount: string, method = 'card'): UsageEvent {
  return {
    specversion: '1.0',
    id: `pay_${++seq}`,
    source: 'test',
    type: 'payment',
    subject,
    time,
    data: { amount, method },
  };
}

describe('take rates billed end to end', () => {
  it("bills Lago's example: three free transactions, then 1.2 % + $0.10 on the fourth, and collects it", async () => {
    h.clock.set('2026-01-01T00:00:00Z');
    const customer = await h.customers.create({ name: 'Shop', email: 'shop@example.com' });
    const sub = await h.subscriptions.subscribe({ customerId: customer.id, planKey: 'payments' });
    await h.billing.service.attachCard(customer.id, '4242 4242 4242 4242');
    await metering.ingest.writeBatch([
      payment(customer.id, '2026-01-03T10:00:00Z', '200'),
      payment(customer.id, '2026-01-04T10:00:00Z', '100'),
      payment(customer.id, '2026-01-05T10:00:00Z', '100'),
      payment(customer.id, '2026-01-06T10:00:00Z', '50'),
      // Not card: another feature's volume, not priced here.
      payment(customer.id, '2026-01-07T10:00:00Z', '9000', 'bank'),
      // After the period: next month's invoice.
      payment(customer.id, '2026-02-01T00:00:00Z', '700'),
    ]);
    const upcoming = await h.billing.service.upcoming(sub.id, new Date('2026-01-31T00:00:00Z'));
    expect(upcoming.costToDate.total).toBe('0.70');

    h.clock.set('2026-02-01T00:00:05Z');
    await h.billing.service.runBilling();
    await (h.billing.rail as SandboxRail).drain();
    const [invoice] = await h.billing.service.list({ subscriptionId: sub.id });
    expect(invoice).toMatchObject({ status: 'paid', total: '0.70', periodTo: '2026-02-01T00:00:00.000Z' });
    expect(invoice?.lines.map((l) => [l.description, l.quantity, l.amount])).toEqual([
      ['Card processing (1.2% of 450 + 0.10 per transaction, 4 transactions)', '450', '0.70'],
    ]);
  });

  it('rates a million-dollar month of 5,000 transactions exactly, in the store', async () => {
    h.clock.set('2026-03-01T00:00:00Z');
    const customer = await h.customers.create({ name: 'Big shop', email: 'big@example.com' });
    const sub = await h.subscriptions.subscribe({ customerId: customer.id, planKey: 'payments' });
    // 5,000 transactions of $200.01: the first 2 are free ($400.02 ≤ $500); the 3rd crosses $500
    // (pays on $100.01); the rest pay 1.2 % of $200.01 + $0.10 = $2.50012 each.
    const events = Array.from({ length: 5000 }, (_, i) =>
      payment(customer.id, new Date(Date.UTC(2026, 2, 1, 0, 0, i)).toISOString(), '200.01'),
    );
    await metering.ingest.writeBatch(events);
    const upcoming = await h.billing.service.upcoming(sub.id, new Date('2026-03-31T00:00:00Z'));
    // 1.2 % × 100.01 + 0.10 = 1.30012; 4,997 × 2.50012 = 12,493.09964; total 12,494.39976 → 12,494.40.
    expect(upcoming.costToDate.lines.map((l) => [l.quantity, l.amount])).toEqual([['1000050', '12494.40']]);
    await h.subscriptions.cancel(sub.id, { timing: 'now' });
  });

  it("rates the transactions under every subject key of the customer (OpenMeter's usage attribution)", async () => {
    h.clock.set('2026-05-01T00:00:00Z');
    const customer = await h.customers.create({ name: 'Market', email: 'market@example.com' });
    await customerSubjectStore(h.store, h.customers).setKeys(customer.id, ['market-eu', 'market-us']);
    const sub = await h.subscriptions.subscribe({ customerId: customer.id, planKey: 'payments' });
    await metering.ingest.writeBatch([
      payment(customer.id, '2026-05-02T10:00:00Z', '100'),
      payment('market-eu', '2026-05-03T10:00:00Z', '100'),
      payment('market-us', '2026-05-04T10:00:00Z', '300'),
      payment('market-us', '2026-05-05T10:00:00Z', '50'),
      payment('market-us', '2026-05-06T10:00:00Z', '1000'),
      // Another customer's key: not this customer's.
      payment('someone-else', '2026-05-06T10:00:00Z', '9999'),
    ]);
    // Free: the first 3 transactions ($500). Then 1.2 % + $0.10: 0.70 + 12.10 = 12.80.
    const upcoming = await h.billing.service.upcoming(sub.id, new Date('2026-05-31T00:00:00Z'));
    expect(upcoming.costToDate.total).toBe('12.80');
    // After the period: the run rates every customer's period at once, keys mapped to customers.
    h.clock.set('2026-06-01T00:00:05Z');
    await h.billing.service.runBilling();
    const [invoice] = await h.billing.service.list({ subscriptionId: sub.id });
    expect(invoice?.lines.map((l) => [l.quantity, l.amount])).toEqual([['1550', '12.80']]);
    await h.subscriptions.cancel(sub.id, { timing: 'now' });
  });
});
