import { sql } from 'kysely';
import { problems } from '../http/problem.ts';
import type { ChangeFeed, Store } from '../store/index.ts';
import type { Clock } from '../util/clock.ts';
import { newId } from '../util/ids.ts';
import {
  type Customer,
  type CustomerInput,
  type CustomerPatch,
  customerInputSchema,
  customerPatchSchema,
} from './model.ts';
import { type SubscriptionTables, selectCustomer, toCustomer } from './repo.ts';
import { parseOrThrow } from './validation.ts';

/** Customers are organisations: the subject of usage, the holder of subscriptions, keys and invoices. */
export interface CustomerService {
  create(input: CustomerInput): Promise<Customer>;
  /** The customer, or null when unknown or deleted. */
  get(id: string): Promise<Customer | null>;
  /** The customer or a 404 problem. */
  require(id: string): Promise<Customer>;
  list(options?: { search?: string; limit?: number; offset?: number }): Promise<Customer[]>;
  findByEmail(email: string): Promise<Customer | null>;
  update(id: string, patch: CustomerPatch): Promise<Customer>;
  /** Soft delete; refused (409) while the customer has a subscription that is not canceled. */
  delete(id: string): Promise<Customer>;
}

export interface CustomerDeps {
  store: Store;
  changes: ChangeFeed;
  clock: Clock;
}

export function createCustomerService(deps: CustomerDeps): CustomerService {
  const { store, changes, clock } = deps;
  const db = store.db.withTables<SubscriptionTables>();
  const publish = (id: string) => changes.publish({ topic: 'customers', id });

  const service: CustomerService = {
    async create(raw) {
      const input = parseOrThrow(customerInputSchema, raw, 'customer');
      const now = clock.now();
      const id = input.id ?? newId('cus');
      const customer = await store.transaction(async (trx) => {
        const tx = trx.withTables<SubscriptionTables>();
        const existing = await selectCustomer(tx, id);
        if (existing)
          throw problems.conflict(`A customer with id "${id}" already exists.`, { customerId: id });
        // A customer's id is its first subject key (usage is metered under it): it cannot be a
        // subject key another customer owns (customer_subject_keys, OpenMeter's usage attribution),
        // or that usage would count for both.
        const { rows: owned } = await sql<{ customer_id: string }>`
          select customer_id from customer_subject_keys where subject_key = ${id}`.execute(tx);
        if (owned[0])
          throw problems.conflict(`The subject key "${id}" belongs to another customer.`, { subjectKey: id });
        const row = await tx
          .insertInto('customers')
          .values({
            id,
            name: input.name,
            email: input.email ?? null,
            currency: input.currency ?? 'USD',
            metadata: JSON.stringify(input.metadata ?? {}),
            billing_details: JSON.stringify(input.billingDetails ?? {}),
            created_at: now,
            updated_at: now,
            deleted_at: null,
          })
          .returningAll()
          .executeTakeFirstOrThrow();
        return toCustomer(row);
      });
      await publish(customer.id);
      return customer;
    },

    async get(id) {
      const customer = await selectCustomer(db, id);
      return customer && !customer.deletedAt ? customer : null;
    },

    async require(id) {
      const customer = await service.get(id);
      if (!customer) throw problems.notFound(`No customer "${id}".`);
      return customer;
    },

    async list(options = {}) {
      let query = db.selectFrom('customers').selectAll().where('deleted_at', 'is', null);
      if (options.search) {
        const like = `%${options.search.toLowerCase()}%`;
        query = query.where((eb) =>
          eb.or([
            eb(sql<string>`lower(name)`, 'like', like),
            eb(sql<string>`lower(coalesce(email, ''))`, 'like', like),
            eb('id', '=', options.search!),
          ]),
        );
      }
      const rows = await query
        .orderBy('created_at', 'desc')
        .orderBy('id')
        .limit(Math.min(options.limit ?? 100, 1000))
        .offset(options.offset ?? 0)
        .execute();
      return rows.map(toCustomer);
    },

    async findByEmail(email) {
      const row = await db
        .selectFrom('customers')
        .selectAll()
        .where(sql<string>`lower(email)`, '=', email.toLowerCase())
        .where('deleted_at', 'is', null)
        .orderBy('created_at')
        .executeTakeFirst();
      return row ? toCustomer(row) : null;
    },

    async update(id, raw) {
      const patch = parseOrThrow(customerPatchSchema, raw, 'customer');
      const customer = await store.transaction(async (trx) => {
        const tx = trx.withTables<SubscriptionTables>();
        const existing = await selectCustomer(tx, id);
        if (!existing || existing.deletedAt) throw problems.notFound(`No customer "${id}".`);
        const row = await tx
          .updateTable('customers')
          .set({
            ...(patch.name !== undefined && { name: patch.name }),
            ...(patch.email !== undefined && { email: patch.email }),
            ...(patch.currency !== undefined && { currency: patch.currency }),
            ...(patch.metadata !== undefined && { metadata: JSON.stringify(patch.metadata) }),
            ...(patch.billingDetails !== undefined && {
              billing_details: JSON.stringify(patch.billingDetails),
            }),
            updated_at: clock.now(),
          })
          .where('id', '=', id)
          .returningAll()
          .executeTakeFirstOrThrow();
        return toCustomer(row);
      });
      await publish(id);
      return customer;
    },

    async delete(id) {
      const customer = await store.transaction(async (trx) => {
        const tx = trx.withTables<SubscriptionTables>();
        const existing = await selectCustomer(tx, id);
        if (!existing || existing.deletedAt) throw problems.notFound(`No customer "${id}".`);
        const live = await tx
          .selectFrom('subscriptions')
          .select('id')
          .where('customer_id', '=', id)
          .where('status', '<>', 'canceled')
          .executeTakeFirst();
        if (live) {
          throw problems.conflict(
            `Customer "${id}" has subscription "${live.id}"; cancel it before deleting the customer.`,
            { subscriptionId: live.id },
          );
        }
        const now = clock.now();
        const row = await tx
          .updateTable('customers')
          .set({ deleted_at: now, updated_at: now })
          .where('id', '=', id)
          .returningAll()
          .executeTakeFirstOrThrow();
        return toCustomer(row);
      });
      await publish(id);
      return customer;
    },
  };
  return service;
}
