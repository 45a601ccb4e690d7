import type { BillingDeps } from './deps.ts';
import { type RailCustomerRow, railCustomer } from './repo.ts';
import { billingDb } from './tables.ts';

/** The customer as the rail knows them (its customer id, the saved payment method). */

export type RailCustomers = ReturnType<typeof createRailCustomers>;

export function createRailCustomers(deps: Pick<BillingDeps, 'db' | 'rail' | 'subscriptions'>) {
  const { db, rail, subscriptions } = deps;

  /** Rail customers of the billing run's current batch, read in one query. */
  const prefetchedRailCustomers = new Map<string, RailCustomerRow>();

  async function prefetchRailCustomers(customerIds: string[]): Promise<void> {
    prefetchedRailCustomers.clear();
    if (customerIds.length === 0) return;
    const rows = await billingDb(db)
      .selectFrom('billing_rail_customers')
      .select(['customer_id', 'rail', 'rail_customer_id', 'payment_method_id', 'payment_method_label'])
      .where('rail', '=', rail.name)
      .where('customer_id', 'in', customerIds)
      .execute();
    for (const r of rows) prefetchedRailCustomers.set(r.customer_id, r);
  }

  async function ensureRailCustomer(customerId: string): Promise<RailCustomerRow> {
    const prefetched = prefetchedRailCustomers.get(customerId);
    if (prefetched) {
      prefetchedRailCustomers.delete(customerId);
      return prefetched;
    }
    const existing = await railCustomer(db, customerId, rail.name);
    if (existing) return existing;
    const customer = await subscriptions.customer(customerId);
    const { railCustomerId } = await rail.createCustomer({
      customerId,
      name: customer?.name ?? customerId,
      email: customer?.email ?? null,
    });
    await billingDb(db)
      .insertInto('billing_rail_customers')
      .values({ customer_id: customerId, rail: rail.name, rail_customer_id: railCustomerId })
      .onConflict((oc) => oc.columns(['customer_id', 'rail']).doNothing())
      .execute();
    // Another process may have made it first: theirs is the one kept.
    const made = await railCustomer(db, customerId, rail.name);
    if (!made) throw new Error(`rail customer of ${customerId} missing after insert`);
    return made;
  }

  async function savePaymentMethod(customerId: string, paymentMethodId: string, label: string | null) {
    await billingDb(db)
      .updateTable('billing_rail_customers')
      .set({ payment_method_id: paymentMethodId, payment_method_label: label })
      .where('customer_id', '=', customerId)
      .where('rail', '=', rail.name)
      .execute();
  }

  return {
    prefetchRailCustomers,
    clearPrefetched: () => prefetchedRailCustomers.clear(),
    ensureRailCustomer,
    savePaymentMethod,
    paymentMethod: (customerId: string) => railCustomer(db, customerId, rail.name),
  };
}
