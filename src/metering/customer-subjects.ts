import { problems } from '../http/problem.ts';
import type { Store } from '../store/index.ts';
import type { Customer } from '../subscriptions/model.ts';
import type { CustomerSubjects } from './http/customers.ts';
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

export function customerSubjectStore(
  store: Store,
  customers: { get(id: string): Promise<Customer | null> },
): CustomerSubjectStore {
  const extraKeys = async (customerIds: readonly string[]) => {
    const rows = await store.query<{ subject_key: string; customer_id: string }>(
      'select subject_key, customer_id from customer_subject_keys where customer_id = any($1::text[]) order by created_at, subject_key',
      [customerIds],
    );
    return rows;
  };
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
    async keysOf(customerId) {
      return [
        customerId,
        ...(await extraKeys([customerId])).map((r) => r.subject_key).filter((k) => k !== customerId),
      ];
    },
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
