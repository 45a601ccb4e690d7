import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SandboxRail } from '../../src/billing/index.ts';
import { openTestPostgres } from '../support/postgres.ts';
import { type Harness, openHarness } from './harness.ts';

/** The same billing run on PostgreSQL: concurrent runners (advisory lock) bill each period once. */
let h: Harness;
let drop: () => Promise<void>;

beforeAll(async () => {
  const pg = await openTestPostgres();
  drop = pg.drop;
  h = await openHarness({ store: pg.store });
});
afterAll(async () => {
  await drop?.();
});

describe('billing run on PostgreSQL', () => {
  it('two runners at once: one holds the lock, every subscription is invoiced and charged once', async () => {
    const subs = [];
    for (let i = 0; i < 8; i++) {
      const customer = await h.customers.create({ name: `PG ${i}`, email: `pg${i}@example.com` });
      subs.push(
        await h.subscriptions.subscribe({ customerId: customer.id, planKey: i % 2 ? 'pro' : 'growth' }),
      );
      await h.billing.service.attachCard(customer.id, '4242424242424242');
      h.usage.set(customer.id, { api_requests: String(10_000 + i * 100) });
    }
    h.clock.set('2026-02-01T00:00:00Z');
    const [a, b] = await Promise.all([h.billing.service.runBilling(), h.billing.service.runBilling()]);
    await (h.billing.rail as SandboxRail).drain();
    expect([a.locked, b.locked].filter(Boolean).length).toBeLessThanOrEqual(1);
    expect(a.invoicesCreated + b.invoicesCreated).toBe(8);
    const { rows } = await sql<{ n: number; paid: number; payments: number; numbers: number }>`
      select count(*)::int as n, count(*) filter (where status = 'paid')::int as paid,
             (select count(*)::int from billing_payments) as payments, count(distinct number)::int as numbers
      from billing_invoices`.execute(h.store.db);
    expect(rows[0]).toEqual({ n: 8, paid: 8, payments: 8, numbers: 8 });
    const growth = (await h.billing.service.list({ subscriptionId: subs[2]!.id }))[0];
    expect(growth?.total).toBe('22.00'); // 20 + 200 × 0.01
  });
});
