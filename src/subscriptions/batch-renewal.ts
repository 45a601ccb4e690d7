import { type Kysely, sql } from 'kysely';
import type { PlanVersion } from '../catalog/index.ts';
import type { BaseDatabase, Store } from '../store/index.ts';
import type { Clock } from '../util/clock.ts';
import type { Subscription, SubscriptionStatus } from './model.ts';
import { billingPeriodAt, type Period } from './periods.ts';
import { type SubscriptionDb, type SubscriptionTables, toSubscription } from './repo.ts';
import type { SubscriptionEvent } from './service-api.ts';
import type { SubscriptionTimeline } from './timeline.ts';

export interface BatchRenewalDeps {
  store: Store;
  clock: Clock;
  versionIn(tx: SubscriptionDb, id: string): Promise<PlanVersion>;
  timeline: Pick<SubscriptionTimeline, 'statusForPhase' | 'rollIn'>;
  outbox?: (tx: Kysely<BaseDatabase>, events: SubscriptionEvent[]) => Promise<void>;
  /** Runs listeners and publishes the changes, after commit. */
  emit(events: SubscriptionEvent[]): Promise<void>;
}

/**
 * Renews many subscriptions whose period ended in one transaction (the billing run's batch): the
 * common case (the next period on the same plan) in one statement for all of them, the others
 * (a cancellation or a scheduled change at the boundary) one by one as `rollIn` does. Longer than
 * most functions: the two cases share the locked rows, the events and the one commit.
 */
export async function renewMany(deps: BatchRenewalDeps, ids: readonly string[]): Promise<Subscription[]> {
  const { store, clock, versionIn } = deps;
  const { statusForPhase, rollIn } = deps.timeline;

  if (ids.length === 0) return [];
  const now = clock.now();
  const { rolled, events } = await store.transaction(async (trx) => {
    const tx = trx.withTables<SubscriptionTables>();
    const rows = await tx
      .selectFrom('subscriptions')
      .selectAll()
      .where('id', 'in', [...ids])
      .where('status', '<>', 'canceled')
      .where('current_period_end', '<=', now)
      .orderBy('id')
      .forUpdate()
      .execute();
    const out: Subscription[] = [];
    const all: SubscriptionEvent[] = [];
    const simple: { sub: Subscription; next: Period; status: SubscriptionStatus }[] = [];
    for (const row of rows) {
      const sub = toSubscription(row);
      const boundary = sub.currentPeriod.to;
      const pending = sub.pendingChange && sub.pendingChange.effectiveAt.getTime() <= boundary.getTime();
      if (!sub.cancelAtPeriodEnd && !pending) {
        // The common case, as one step of `rollIn`: the next period on the same plan.
        const version = await versionIn(tx, sub.planVersionId);
        const next = billingPeriodAt(sub.phases, version.definition.billingCadence, boundary);
        if (now.getTime() < next.to.getTime()) {
          simple.push({ sub, next, status: statusForPhase(sub, sub.phases, boundary) });
          continue;
        }
      }
      const moved = await rollIn(tx, sub, now);
      out.push(moved.sub);
      all.push(...moved.events);
    }
    if (simple.length > 0) {
      // Closes each ended period, opens the next (as openPeriod) and moves the subscription, at once.
      const written = await sql<SubscriptionTables['subscriptions']>`
        with v as (
          select * from unnest(
            ${simple.map((s) => s.sub.id)}::text[], ${simple.map((s) => s.sub.currentPeriod.from.toISOString())}::timestamptz[],
            ${simple.map((s) => s.next.from.toISOString())}::timestamptz[], ${simple.map((s) => s.next.to.toISOString())}::timestamptz[],
            ${simple.map((s) => s.status)}::text[]
          ) as v(id, old_start, new_start, new_end, status)
        ), closed as (
          update subscription_periods p set closed_at = ${now} from v
          where p.subscription_id = v.id and p.period_start = v.old_start
        ), opened as (
          insert into subscription_periods (subscription_id, period_start, period_end, closed_at)
          select id, new_start, new_end, null from v
          on conflict (subscription_id, period_start) do update set period_end = excluded.period_end, closed_at = null
        )
        update subscriptions s set current_period_start = v.new_start, current_period_end = v.new_end,
          status = v.status, updated_at = ${clock.now()}
        from v where s.id = v.id returning s.*`.execute(tx);
      for (const row of written.rows) {
        const sub = toSubscription(row);
        out.push(sub);
        all.push({ type: 'subscription.renewed', subscription: sub });
      }
    }
    await deps.outbox?.(trx, all);
    return { rolled: out, events: all };
  });
  await deps.emit(events);
  return rolled;
}
