import type { BillingDeps } from './deps.ts';
import { sqlRows } from './model.ts';
import { type RailCustomerRow, railCustomer } from './repo.ts';

/** The customer as the rail knows them (its customer id, the saved payment method). */

export type RailCustomers = ReturnType<typeof createRailCustomers>;

export function createRailCustomers(deps: Pick<BillingDeps, 'db' | 'rail' | 'subscriptions'>) {
  const { db, rail, subscriptions } = deps;

  /** Rail customers of the billing run's current batch, read in one query. */
  const prefetchedRailCustomers = new Map<string, RailCustomerRow>();

  async function prefetchRailCustomers(customerIds: string[]): Promise<void> {
    prefetchedRailCustomers.clear();
    const rows = await sqlRows<RailCustomerRow>(
      db,
      `select customer_id, rail, rail_customer_id, payment_method_id, payment_method_label
       from billing_rail_customers where rail = $1 and customer_id = any($2::text[])`,
      [rail.name, customerIds],
    );
    for (const r of rows) prefetchedRailCustomers.set(r.customer_id, r);
  }

  async function ensureRailCustomer(customerId: string) {
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
    await sqlRows(
      db,
      `insert into billing_rail_customers (customer_id, rail, rail_customer_id) values ($1, $2, $3)
       on conflict (customer_id, rail) do nothing`,
      [customerId, rail.name, railCustomerId],
    );
    return (await railCustomer(db, customerId, rail.name)) as NonNullable<
      Awaited<ReturnType<typeof railCustomer>>
    >;
  }

  async function savePaymentMethod(customerId: string, paymentMethodId: string, label: string | null) {
    await sqlRows(
      db,
      'update billing_rail_customers set payment_method_id = $3, payment_method_label = $4 where customer_id = $1 and rail = $2',
      [customerId, rail.name, paymentMethodId, label],
    );
  }

  return {
    prefetchRailCustomers,
    clearPrefetched: () => prefetchedRailCustomers.clear(),
    ensureRailCustomer,
    savePaymentMethod,
    paymentMethod: (customerId: string) => railCustomer(db, customerId, rail.name),
  };
}
