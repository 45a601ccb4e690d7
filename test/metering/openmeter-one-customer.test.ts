import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { subjectKeyOwners } from '../../src/metering/index.ts';
import { recentCustomersOf } from '../../src/notify/index.ts';
import { type OmStack, startOmStack } from './om-stack.ts';

/**
 * Tollgate's customers and OpenMeter's customers are one thing: a customer created through
 * `om.customers.create` is subscribed, metered, limited and invoiced by Tollgate's admin API and
 * billing, and usage ingested under any of its `usageAttribution.subjectKeys` counts for it there
 * as it does in `filterCustomerId` queries; a customer created through the admin API is an
 * OpenMeter customer with its id as key and first subject key.
 */
let stack: OmStack;

beforeAll(async () => {
  stack = await startOmStack(
    [
      { slug: 'tokens', eventType: 'tokens', aggregation: 'SUM', valueProperty: '$.tokens' },
      { slug: 'payments', eventType: 'payment', aggregation: 'SUM', valueProperty: '$.amount' },
    ],
    {
      features: [
        { key: 'tokens', name: 'Tokens', meter: 'tokens' },
        { key: 'card_volume', name: 'Card payments', meter: 'payments' },
      ],
      plans: [
        {
          key: 'metered',
          name: 'Metered',
          rateCards: [
            {
              key: 'tokens',
              name: 'Tokens',
              feature: 'tokens',
              price: { type: 'unit', amount: '0.01' },
              entitlement: { type: 'metered', limit: 1000, usagePeriod: 'P1M' },
            },
            {
              key: 'card_fees',
              name: 'Card processing',
              feature: 'card_volume',
              price: { type: 'percentage', rate: '1' },
            },
          ],
        },
      ],
    },
  );
}, 180_000);

afterAll(async () => {
  await stack?.stop();
});

async function admin<T>(path: string, init: { method?: string; body?: unknown } = {}): Promise<T> {
  const res = await stack.call(`/api/admin${path}`, {
    method: init.method ?? 'GET',
    ...(init.body
      ? { body: JSON.stringify(init.body), headers: { 'content-type': 'application/json' } }
      : {}),
  });
  const body = await res.json();
  if (!res.ok) throw new Error(`${res.status} ${JSON.stringify(body)}`);
  return body as T;
}

describe('one customer store for OpenMeter and Tollgate', () => {
  it('bills and limits the usage of every subject key of a customer created through the OpenMeter API', async () => {
    const { om, tollgate } = stack;
    await om.customers.create({
      key: 'shop',
      name: 'Shop',
      currency: 'USD',
      usageAttribution: { subjectKeys: ['shop-backend'] },
    } as never);
    expect(await admin('/customers/shop')).toMatchObject({ id: 'shop', name: 'Shop', currency: 'USD' });
    const sub = await admin<{ id: string; status: string; currentPeriod: { to: string } }>('/subscriptions', {
      method: 'POST',
      body: { customerId: 'shop', plan: 'metered', trial: false },
    });
    expect(sub.status).toBe('active');

    const now = new Date();
    const event = (id: string, type: string, subject: string, data: Record<string, unknown>) => ({
      id,
      source: 'one-store',
      type,
      subject,
      time: now,
      data,
    });
    await om.events.ingest([
      event('t1', 'tokens', 'shop', { tokens: 100 }),
      event('t2', 'tokens', 'shop-backend', { tokens: 250 }),
      event('t3', 'tokens', 'stranger', { tokens: 1000 }),
      event('p1', 'payment', 'shop', { amount: '100' }),
      event('p2', 'payment', 'shop-backend', { amount: '200.50' }),
      event('p3', 'payment', 'stranger', { amount: '5000' }),
    ]);

    const byCustomer = await om.meters.query('tokens', { filterCustomerId: ['shop'] });
    expect(byCustomer.data.map((r) => [r.customerId, r.value])).toEqual([['shop', 350]]);

    // Entitlements: the metered balances count both keys.
    const { balances } = await admin<{
      balances: { featureKey: string; usage: number; remaining: number | null }[];
    }>('/customers/shop/entitlements');
    expect(balances.map((b) => [b.featureKey, b.usage, b.remaining])).toEqual([
      ['tokens', 350, 650],
      ['card_volume', 300.5, null],
    ]);

    // Billing: the upcoming invoice and the issued one bill both keys (unit price and take rate).
    const upcoming = await admin<{
      costToDate: { lines: { quantity: string; amount: string }[]; total: string };
    }>(`/billing/subscriptions/${sub.id}/upcoming`);
    expect(upcoming.costToDate.lines.map((l) => [l.quantity, l.amount])).toEqual([
      ['350', '3.50'],
      ['300.5', '3.01'],
    ]);
    expect(upcoming.costToDate.total).toBe('6.51');
    await tollgate.billing.runBilling({ asOf: new Date(sub.currentPeriod.to) });
    const [invoice] = await tollgate.billing.list({ subscriptionId: sub.id });
    expect(invoice?.customerId).toBe('shop');
    expect(invoice?.lines.map((l) => [l.featureKey, l.quantity, l.amount])).toEqual([
      ['tokens', '350', '3.50'],
      ['card_volume', '300.5', '3.01'],
    ]);
    expect(invoice?.total).toBe('6.51');
    // The key cannot become another customer's id: its usage would count twice.
    const clash = await stack.call('/api/admin/customers', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'shop-backend', name: 'Clash' }),
    });
    expect(clash.status).toBe(409);

    // The usage-threshold job checks the customers with recent usage: keys map to their owner.
    const recent = recentCustomersOf(
      () => tollgate.metering.reader,
      () => ['tokens', 'payments'],
      (subjects) => subjectKeyOwners(tollgate.runtime.store, subjects),
    );
    expect((await recent(new Date(now.getTime() - 60_000))).sort()).toEqual(['shop', 'stranger']);
  });

  it('returns a customer created through the admin API as an OpenMeter customer, its id as key and subject key', async () => {
    const { om } = stack;
    const created = await admin<{ id: string; createdAt: string; updatedAt: string }>('/customers', {
      method: 'POST',
      body: { name: 'Initech', email: 'ap@initech.test', currency: 'EUR', metadata: { segment: 'smb' } },
    });
    const expected = {
      id: created.id,
      key: created.id,
      name: 'Initech',
      primaryEmail: 'ap@initech.test',
      currency: 'EUR',
      metadata: { segment: 'smb' },
      usageAttribution: { subjectKeys: [created.id] },
      createdAt: new Date(created.createdAt),
      updatedAt: new Date(created.updatedAt),
    };
    expect(await om.customers.get(created.id)).toEqual(expected);
    const page = (await om.customers.list({ key: created.id } as never)) as { items: unknown[] };
    expect(page.items).toEqual([expected]);
  });
});
