import type { PlanVersion } from '../catalog/index.ts';
import type { Clock } from '../util/clock.ts';
import { newId } from '../util/ids.ts';
import type { Subscription, SubscriptionSegment, SubscriptionStatus } from './model.ts';
import { billingPeriodAt, layoutPhases, type PhaseEntry, phaseIndexAt, phasesToJson } from './periods.ts';
import { pendingToJson, type SubscriptionDb, toSubscription } from './repo.ts';
import type { SubscriptionEvent } from './service-api.ts';

type Tx = SubscriptionDb;

export interface TimelineDeps {
  clock: Clock;
  /** A plan version read inside the transaction (cached: versions are immutable). */
  versionIn(tx: Tx, id: string): Promise<PlanVersion>;
}

/**
 * The writes of a locked subscription's timeline, inside its transaction: the row itself, its
 * segments (which version was in force when), its billing periods, a switch to another plan
 * version, and rolling periods forward to now. One factory (longer than most functions) so the
 * small writers share the clock and the version reader.
 */
export function subscriptionTimeline(deps: TimelineDeps) {
  const { clock, versionIn } = deps;

  async function writeSubscription(tx: Tx, sub: Subscription) {
    const row = await tx
      .updateTable('subscriptions')
      .set({
        plan_key: sub.planKey,
        plan_version: sub.planVersion,
        plan_version_id: sub.planVersionId,
        status: sub.status,
        current_period_start: sub.currentPeriod.from,
        current_period_end: sub.currentPeriod.to,
        phases: JSON.stringify(phasesToJson(sub.phases)),
        cancel_at_period_end: sub.cancelAtPeriodEnd,
        canceled_at: sub.canceledAt,
        ended_at: sub.endedAt,
        pending_change: pendingToJson(sub.pendingChange),
        overrides: JSON.stringify(sub.overrides),
        metadata: JSON.stringify(sub.metadata),
        updated_at: clock.now(),
      })
      .where('id', '=', sub.id)
      .returningAll()
      .executeTakeFirstOrThrow();
    return toSubscription(row);
  }

  async function openSegment(tx: Tx, sub: Subscription, from: Date, reason: SubscriptionSegment['reason']) {
    await tx
      .insertInto('subscription_segments')
      .values({
        id: newId('seg'),
        subscription_id: sub.id,
        plan_key: sub.planKey,
        plan_version: sub.planVersion,
        plan_version_id: sub.planVersionId,
        overrides: JSON.stringify(sub.overrides),
        from,
        to: null,
        reason,
      })
      .execute();
  }

  async function closeSegment(tx: Tx, subscriptionId: string, at: Date) {
    await tx
      .updateTable('subscription_segments')
      .set({ to: at })
      .where('subscription_id', '=', subscriptionId)
      .where('to', 'is', null)
      .execute();
  }

  async function openPeriod(tx: Tx, sub: Subscription) {
    await tx
      .insertInto('subscription_periods')
      .values({
        subscription_id: sub.id,
        period_start: sub.currentPeriod.from,
        period_end: sub.currentPeriod.to,
        closed_at: null,
      })
      .onConflict((oc) =>
        oc
          .columns(['subscription_id', 'period_start'])
          .doUpdateSet({ period_end: sub.currentPeriod.to, closed_at: null }),
      )
      .execute();
  }

  async function closePeriod(tx: Tx, sub: Subscription, at: Date, end?: Date) {
    await tx
      .updateTable('subscription_periods')
      .set({ closed_at: at, ...(end && { period_end: end }) })
      .where('subscription_id', '=', sub.id)
      .where('period_start', '=', sub.currentPeriod.from)
      .execute();
  }

  const statusForPhase = (sub: Subscription, phases: PhaseEntry[], at: Date): SubscriptionStatus => {
    const trial = phases[phaseIndexAt(phases, at)]?.trial ?? false;
    if (sub.status === 'trialing' || sub.status === 'active') return trial ? 'trialing' : 'active';
    return sub.status;
  };

  /**
   * Puts the subscription on another plan version at `at`. The timeline before `at` is kept (the
   * phase in progress ends there, so history keeps its phases, e.g. a trial); the new version's
   * phases (no trial) start at `at`, their billing periods anchored at `anchor` (the start of the
   * period in progress for a change now), so the period keeps its start and end.
   */
  async function switchPlan(
    tx: Tx,
    sub: Subscription,
    version: PlanVersion,
    at: Date,
    anchor: Date,
    reason: SubscriptionSegment['reason'],
  ): Promise<Subscription> {
    const kept = sub.phases
      .filter((p) => p.from.getTime() < at.getTime())
      .map((p) => ({ ...p, to: p.to && p.to.getTime() < at.getTime() ? p.to : at }));
    const added = layoutPhases(version.definition, at, { skipTrial: true });
    if (added[0] && anchor.getTime() < at.getTime()) added[0] = { ...added[0], anchor };
    const phases = [...kept, ...added];
    const next: Subscription = {
      ...sub,
      planKey: version.planKey,
      planVersion: version.version,
      planVersionId: version.id,
      phases,
      currentPeriod: billingPeriodAt(phases, version.definition.billingCadence, at),
      pendingChange: null,
    };
    next.status = statusForPhase(sub, phases, at);
    await closeSegment(tx, sub.id, at);
    await openSegment(tx, next, at, reason);
    // The period in progress now ends where the new plan's cadence says.
    await tx
      .updateTable('subscription_periods')
      .set({ period_end: next.currentPeriod.to })
      .where('subscription_id', '=', sub.id)
      .where('period_start', '=', sub.currentPeriod.from)
      .where('closed_at', 'is', null)
      .execute();
    if (next.currentPeriod.from.getTime() !== sub.currentPeriod.from.getTime()) await openPeriod(tx, next);
    return next;
  }

  /** Advances periods up to `now` on a locked row. */
  async function rollIn(
    tx: Tx,
    start: Subscription,
    now: Date,
  ): Promise<{ sub: Subscription; events: SubscriptionEvent[] }> {
    let sub = start;
    const events: SubscriptionEvent[] = [];
    for (let guard = 0; guard < 10_000; guard++) {
      if (sub.status === 'canceled' || now.getTime() < sub.currentPeriod.to.getTime()) break;
      const boundary = sub.currentPeriod.to;
      await closePeriod(tx, sub, now);
      if (sub.cancelAtPeriodEnd) {
        await closeSegment(tx, sub.id, boundary);
        sub = { ...sub, status: 'canceled', canceledAt: boundary, endedAt: boundary, pendingChange: null };
        events.push({ type: 'subscription.canceled', subscription: sub });
        break;
      }
      if (sub.pendingChange && sub.pendingChange.effectiveAt.getTime() <= boundary.getTime()) {
        const version = await versionIn(tx, sub.pendingChange.planVersionId);
        sub = await switchPlan(tx, sub, version, boundary, boundary, 'downgrade');
        events.push({ type: 'subscription.plan_changed', subscription: sub });
      } else {
        const version = await versionIn(tx, sub.planVersionId);
        const period = billingPeriodAt(sub.phases, version.definition.billingCadence, boundary);
        sub = { ...sub, currentPeriod: period, status: statusForPhase(sub, sub.phases, boundary) };
      }
      await openPeriod(tx, sub);
      events.push({ type: 'subscription.renewed', subscription: sub });
    }
    if (events.length > 0 || sub !== start) sub = await writeSubscription(tx, sub);
    return { sub, events: events.map((e) => ({ ...e, subscription: sub })) };
  }

  return {
    writeSubscription,
    openSegment,
    closeSegment,
    openPeriod,
    closePeriod,
    statusForPhase,
    switchPlan,
    rollIn,
  };
}

export type SubscriptionTimeline = ReturnType<typeof subscriptionTimeline>;
