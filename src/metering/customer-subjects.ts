import { problems } from '../http/problem.ts';
import type { Store } from '../store/index.ts';
import type { Customer } from '../subscriptions/model.ts';
import type { CustomerSubjects } from './http/customers.ts';
import type { MeterReader } from './query.ts';
import { run } from './repo.ts';

/**
 * Usage attribution over Tollgate's customers table (migration 0409): a customer's subject keys
 * are its id (the gateway meters usage under it) followed by the keys in `customer_subject_keys`.
 */
export interface CustomerSubjectStore extends CustomerSubjects {
  /** The customer's subject keys, its id first. */
  keysOf(customerId: string): Promise<string[]>;
  /** 409 when another customer than `customerId` owns one of the keys (check before creating). */
  assertAvailable(keys: readonly string[], customerId?: string): Promise<void>;
  /** Replaces the customer's extra keys (its id always stays); 409 when another customer owns one. */
  setKeys(customerId: string, keys: readonly string[]): Promise<string[]>;
}

const extraKeysOf = (store: Store, customerIds: readonly string[]) =>
  store.query<{ subject_key: string; customer_id: string }>(
    'select subject_key, customer_id from customer_subject_keys where customer_id = any($1::text[]) order by created_at, subject_key',
    [customerIds],
  );

/** A customer's subject keys, its id first: what its usage is metered under. */
export async function subjectKeysOf(store: Store, customerId: string): Promise<string[]> {
  const extra = await extraKeysOf(store, [customerId]);
  return [customerId, ...extra.map((r) => r.subject_key).filter((k) => k !== customerId)];
}

/** Subject key → the customer that owns it, for the keys set through usageAttribution.subjectKeys. */
export async function subjectKeyOwners(store: Store, keys: readonly string[]): Promise<Map<string, string>> {
  const rows = await store.query<{ subject_key: string; customer_id: string }>(
    'select subject_key, customer_id from customer_subject_keys where subject_key = any($1::text[])',
    [keys],
  );
  return new Map(rows.map((r) => [r.subject_key, r.customer_id]));
}

/**
 * The reader billing, entitlements and the portal use: a query for a `customer` reads every
 * subject key the customer owns, so usage ingested under a key set through
 * `usageAttribution.subjectKeys` is billed and counted like the usage the gateway meters under
 * the customer's id.
 */
export function withCustomerSubjects<R extends MeterReader>(reader: R, store: Store): R {
  return {
    ...reader,
    async query(params) {
      if (params.customer === undefined) return reader.query(params);
      const { customer, ...rest } = params;
      return reader.query({ ...rest, subject: await subjectKeysOf(store, customer) });
    },
  };
}

export function customerSubjectStore(
  store: Store,
  customers: { get(id: string): Promise<Customer | null> },
): CustomerSubjectStore {
  const extraKeys = (customerIds: readonly string[]) => extraKeysOf(store, customerIds);
  const self: CustomerSubjectStore = {
    async subjectOwners(customerIds) {
      const owners = new Map<string, string>();
      for (const id of customerIds) {
        if (!(await customers.get(id))) {
          throw problems.validation(`No customer "${id}".`, [
            { path: 'filterCustomerId', message: `unknown customer "${id}"` },
          ]);
        }
        owners.set(id, id);
      }
      for (const row of await extraKeys(customerIds)) owners.set(row.subject_key, row.customer_id);
      return owners;
    },
    async assertAvailable(keys, customerId) {
      const [other] = await store.query<{ subject_key: string }>(
        `select subject_key from customer_subject_keys where subject_key = any($1::text[]) and customer_id <> $2
         union all select id from customers where id = any($1::text[]) and id <> $2 and deleted_at is null limit 1`,
        [keys, customerId ?? ''],
      );
      if (other) {
        throw problems.conflict(`The subject key "${other.subject_key}" belongs to another customer.`, {
          subjectKey: other.subject_key,
        });
      }
    },
    keysOf: (customerId) => subjectKeysOf(store, customerId),
    async setKeys(customerId, keys) {
      const wanted = [...new Set(keys.filter((k) => k !== customerId))];
      await store.transaction(async (tx) => {
        const [other] = await run<{ subject_key: string; customer_id: string }>(
          tx,
          'select subject_key, customer_id from customer_subject_keys where subject_key = any($1::text[]) and customer_id <> $2 for update',
          [wanted, customerId],
        );
        if (other) {
          throw problems.conflict(`The subject key "${other.subject_key}" belongs to another customer.`, {
            subjectKey: other.subject_key,
          });
        }
        await run(tx, 'delete from customer_subject_keys where customer_id = $1', [customerId]);
        if (wanted.length > 0) {
          await run(
            tx,
            'insert into customer_subject_keys (subject_key, customer_id) select unnest($1::text[]), $2',
            [wanted, customerId],
          );
        }
      });
      return self.keysOf(customerId);
    },
  };
  return self;
}
