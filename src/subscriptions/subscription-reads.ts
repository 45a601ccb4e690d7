import type { SubscriptionSegment } from './model.ts';
import { type SubscriptionDb, toPeriod, toSegment, toSubscription } from './repo.ts';
import type { SubscriptionService } from './service-api.ts';

type Reads = Pick<
  SubscriptionService,
  'get' | 'list' | 'currentForCustomer' | 'getMany' | 'segmentsMany' | 'segments' | 'periods'
>;

/** Subscriptions, their segments and periods as stored (no transaction, no rolling forward). */
export function subscriptionReads(db: SubscriptionDb): Reads {
  return {
    async get(id) {
      const row = await db.selectFrom('subscriptions').selectAll().where('id', '=', id).executeTakeFirst();
      return row ? toSubscription(row) : null;
    },

    async list(filter = {}) {
      let query = db.selectFrom('subscriptions').selectAll();
      if (filter.customerId) query = query.where('customer_id', '=', filter.customerId);
      if (filter.planKey) query = query.where('plan_key', '=', filter.planKey);
      if (filter.status) query = query.where('status', '=', filter.status);
      const rows = await query
        .orderBy('created_at', 'desc')
        .orderBy('id')
        .limit(Math.min(filter.limit ?? 100, 10_000))
        .offset(filter.offset ?? 0)
        .execute();
      return rows.map(toSubscription);
    },

    async currentForCustomer(customerId) {
      const row = await db
        .selectFrom('subscriptions')
        .selectAll()
        .where('customer_id', '=', customerId)
        .where('status', '<>', 'canceled')
        .orderBy('created_at', 'desc')
        .executeTakeFirst();
      return row ? toSubscription(row) : null;
    },

    async getMany(ids) {
      if (ids.length === 0) return [];
      const rows = await db
        .selectFrom('subscriptions')
        .selectAll()
        .where('id', 'in', [...ids])
        .execute();
      return rows.map(toSubscription);
    },

    async segmentsMany(ids) {
      const out = new Map<string, SubscriptionSegment[]>();
      if (ids.length === 0) return out;
      for (const id of ids) out.set(id, []);
      const rows = await db
        .selectFrom('subscription_segments')
        .selectAll()
        .where('subscription_id', 'in', [...ids])
        .orderBy('subscription_id')
        .orderBy('from')
        .execute();
      for (const row of rows) out.get(row.subscription_id)?.push(toSegment(row));
      return out;
    },

    async segments(id) {
      const rows = await db
        .selectFrom('subscription_segments')
        .selectAll()
        .where('subscription_id', '=', id)
        .orderBy('from')
        .execute();
      return rows.map(toSegment);
    },

    async periods(id) {
      const rows = await db
        .selectFrom('subscription_periods')
        .selectAll()
        .where('subscription_id', '=', id)
        .orderBy('period_start')
        .execute();
      return rows.map(toPeriod);
    },
  };
}
