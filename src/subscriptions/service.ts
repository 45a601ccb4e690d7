import type { Kysely } from 'kysely';
import type { PlanVersion } from '../catalog/index.ts';
import { type CatalogTables, toPlanVersion } from '../catalog/index.ts';
import { problems } from '../http/problem.ts';
import type { BaseDatabase } from '../store/index.ts';
import { renewMany } from './batch-renewal.ts';
import { applyOverrides, validateOverrides } from './contracts.ts';
import { contractOverridesSchema, type PendingChange, type Subscription } from './model.ts';
import { phaseIndexAt } from './periods.ts';
import { type SubscriptionDb, type SubscriptionTables, selectSubscriptionForUpdate } from './repo.ts';
import type { SubscriptionDeps, SubscriptionEvent, SubscriptionService } from './service-api.ts';
import { subscriptionReads } from './subscription-reads.ts';
import { insertSubscription, notCanceled } from './subscription-writes.ts';
import { subscriptionTimeline } from './timeline.ts';
import { parseOrThrow } from './validation.ts';

export type {
  ChangePlanInput,
  ChangeTiming,
  SubscribeInput,
  SubscriptionDeps,
  SubscriptionEvent,
  SubscriptionService,
} from './service-api.ts';

/**
 * Subscriptions: a customer on a plan version, with a phase timeline, a current billing period
 * and a history of segments (which version was in force when) for proration by second.
 * Every operation is one transaction on the locked subscription row, takes its time from the
 * clock, and publishes a change so the gateway's access views are rebuilt at once.
 *
 * Files: `service-api.ts` declares the service, its inputs and events; `timeline.ts` writes a
 * locked subscription's row, segments and periods; `batch-renewal.ts` renews many at once;
 * `subscription-reads.ts` reads them as stored.
 */

/** A status change also carries the status-specific event. */
const STATUS_EVENTS = new Set<SubscriptionEvent['type']>([
  'subscription.past_due',
  'subscription.suspended',
  'subscription.reactivated',
]);

type Tx = SubscriptionDb;

/**
 * One closure, longer than most functions: every operation shares the plan-version cache, the
 * listeners and `mutate` (lock, roll forward, write, outbox, publish); each operation is short.
 */
export function createSubscriptionService(deps: SubscriptionDeps): SubscriptionService {
  const { store, changes, clock, catalog } = deps;
  const db = store.db.withTables<SubscriptionTables>();
  const listeners = new Set<(event: SubscriptionEvent) => void | Promise<void>>();

  const emit = async (events: SubscriptionEvent[]) => {
    const ids = new Set<string>();
    for (const event of events) {
      ids.add(event.subscription.id);
      for (const listener of listeners) {
        try {
          // Awaited, so work a listener starts (a webhook row) is done before the operation returns.
          await listener(event);
        } catch {
          // A listener's failure must not undo a committed change.
        }
      }
    }
    for (const event of events) {
      await changes.publish({ topic: 'subscriptions', id: event.subscription.id });
      await changes.publish({ topic: 'customers', id: event.subscription.customerId });
    }
  };

  /** Plan versions are immutable: read inside a transaction through it (PGlite has one connection). */
  async function versionIn(tx: Tx, id: string): Promise<PlanVersion> {
    const cached = await catalogCache.get(id);
    if (cached) return cached;
    const row = await tx
      .withTables<CatalogTables>()
      .selectFrom('catalog_plan_versions')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst();
    if (!row) throw problems.internal(`plan version ${id} is missing`);
    const version = toPlanVersion(row);
    catalogCache.set(id, version);
    return version;
  }
  const catalogCache = new Map<string, PlanVersion>();

  /** Resolves a plan key (+ version) to a published version, before any transaction opens. */
  async function resolveVersion(planKey: string, version?: number, forNewSubscription = false) {
    const plan = await catalog.getPlan(planKey);
    if (!plan)
      throw problems.validation(`No plan "${planKey}".`, [
        { path: 'plan', message: `unknown plan "${planKey}"` },
      ]);
    if (plan.status === 'archived' && forNewSubscription) {
      throw problems.conflict(
        `Plan "${planKey}" is archived: it keeps its subscribers but takes no new ones.`,
      );
    }
    const found =
      version === undefined
        ? await catalog.getLatestPlanVersion(planKey)
        : await catalog.getPlanVersion(planKey, version);
    if (!found) {
      throw problems.validation(`Plan "${planKey}" has no version ${version}.`, [
        { path: 'version', message: `plan "${planKey}" has versions 1…${plan.latestVersion}` },
      ]);
    }
    catalogCache.set(found.id, found);
    return found;
  }

  async function featureKeys(): Promise<Set<string>> {
    return new Set((await catalog.listFeatures()).map((f) => f.key));
  }

  const {
    writeSubscription,
    openSegment,
    closeSegment,
    openPeriod,
    closePeriod,
    switchPlan,
    rollIn,
    statusForPhase,
  } = subscriptionTimeline({ clock, versionIn });

  /**
   * Runs `fn` on the locked, rolled-forward subscription in one transaction, writes its result
   * and publishes the change after commit.
   */
  async function mutate(
    id: string,
    fn: (
      tx: Tx,
      sub: Subscription,
      now: Date,
      /** The same transaction, untyped, for work of other modules that joins it. */
      trx: Kysely<BaseDatabase>,
    ) => Promise<{ sub: Subscription; event?: SubscriptionEvent['type'] }>,
  ): Promise<Subscription> {
    const now = clock.now();
    const { result, events } = await store.transaction(async (trx) => {
      const tx = trx.withTables<SubscriptionTables>();
      const locked = await selectSubscriptionForUpdate(tx, id);
      if (!locked) throw problems.notFound(`No subscription "${id}".`);
      const rolled = await rollIn(tx, locked, now);
      const out = await fn(tx, rolled.sub, now, trx);
      const written = out.sub === rolled.sub ? rolled.sub : await writeSubscription(tx, out.sub);
      const all = [...rolled.events];
      if (out.event) all.push({ type: out.event, subscription: written, previous: locked });
      if (out.event && STATUS_EVENTS.has(out.event))
        all.push({ type: 'subscription.status_changed', subscription: written, previous: locked });
      // A change without a named event is an update; an operation that changed nothing emits nothing.
      if (all.length === 0 && written !== rolled.sub)
        all.push({ type: 'subscription.updated', subscription: written, previous: locked });
      const events = all.map((e) => ({ ...e, subscription: written }));
      await deps.outbox?.(trx, events);
      return { result: written, events };
    });
    await emit(events);
    return result;
  }

  const service: SubscriptionService = {
    ...subscriptionReads(db),
    rolloverMany: (ids) =>
      renewMany(
        { store, clock, versionIn, timeline: { statusForPhase, rollIn }, outbox: deps.outbox, emit },
        ids,
      ),

    async subscribe(input) {
      if (!input || typeof input.customerId !== 'string' || typeof input.planKey !== 'string') {
        throw problems.validation('customerId and planKey are required.', [
          { path: 'customerId', message: 'required' },
          { path: 'planKey', message: 'required' },
        ]);
      }
      const version = await resolveVersion(input.planKey, input.version, true);
      const overrides = parseOrThrow(contractOverridesSchema, input.overrides ?? {}, 'contract overrides');
      validateOverrides(version.definition, overrides, await featureKeys());
      const now = clock.now();
      const sub = await store.transaction(async (trx) => {
        const tx = trx.withTables<SubscriptionTables>();
        const created = await insertSubscription(tx, {
          customerId: input.customerId,
          version,
          overrides,
          metadata: input.metadata ?? {},
          skipTrial: input.trial === false,
          now,
        });
        await openSegment(tx, created, now, 'subscribe');
        await openPeriod(tx, created);
        await input.inTransaction?.(trx, created);
        await deps.outbox?.(trx, [{ type: 'subscription.created', subscription: created }]);
        return created;
      });
      await emit([{ type: 'subscription.created', subscription: sub }]);
      return sub;
    },

    async require(id) {
      const sub = await service.get(id);
      if (!sub) throw problems.notFound(`No subscription "${id}".`);
      return sub;
    },

    async changePlan(id, input) {
      const timing = input.timing ?? 'now';
      const version = await resolveVersion(input.planKey, input.version, true);
      const current = await service.require(id);
      validateOverrides(version.definition, current.overrides, await featureKeys());
      return mutate(id, async (tx, sub, now, trx) => {
        notCanceled(sub);
        if (sub.planVersionId === version.id) {
          throw problems.conflict(
            `Subscription "${id}" is already on ${version.planKey} v${version.version}.`,
          );
        }
        if (timing === 'period_end') {
          const pendingChange: PendingChange = {
            planKey: version.planKey,
            version: version.version,
            planVersionId: version.id,
            effectiveAt: sub.currentPeriod.to,
          };
          await input.inTransaction?.(trx, sub);
          return { sub: { ...sub, pendingChange }, event: 'subscription.change_scheduled' };
        }
        const next = await switchPlan(tx, sub, version, now, sub.currentPeriod.from, 'change');
        await input.inTransaction?.(trx, next);
        return { sub: next, event: 'subscription.plan_changed' };
      });
    },

    upgrade: (id, planKey, version) => service.changePlan(id, { planKey, version, timing: 'now' }),
    downgrade: (id, planKey, version) => service.changePlan(id, { planKey, version, timing: 'period_end' }),

    cancelPendingChange: (id) =>
      mutate(id, async (_tx, sub) => {
        if (!sub.pendingChange) throw problems.conflict(`Subscription "${id}" has no scheduled plan change.`);
        return { sub: { ...sub, pendingChange: null }, event: 'subscription.updated' };
      }),

    cancel: (id, options = {}) =>
      mutate(id, async (tx, sub, now) => {
        notCanceled(sub);
        if ((options.timing ?? 'period_end') === 'period_end') {
          return {
            sub: { ...sub, cancelAtPeriodEnd: true, pendingChange: null },
            event: 'subscription.updated',
          };
        }
        await closeSegment(tx, sub.id, now);
        await closePeriod(tx, sub, now);
        return {
          sub: {
            ...sub,
            status: 'canceled',
            canceledAt: now,
            endedAt: now,
            cancelAtPeriodEnd: false,
            pendingChange: null,
          },
          event: 'subscription.canceled',
        };
      }),

    resume: (id) =>
      mutate(id, async (_tx, sub) => {
        notCanceled(sub);
        if (!sub.cancelAtPeriodEnd)
          throw problems.conflict(`Subscription "${id}" is not scheduled to cancel.`);
        return { sub: { ...sub, cancelAtPeriodEnd: false }, event: 'subscription.updated' };
      }),

    async migrate(id, toVersion) {
      const current = await service.require(id);
      const version = await resolveVersion(current.planKey, toVersion);
      if (version.version <= current.planVersion) {
        throw problems.conflict(
          `Subscription "${id}" is on ${current.planKey} v${current.planVersion}; migrate moves to a newer version (latest is v${version.version}).`,
        );
      }
      validateOverrides(version.definition, current.overrides, await featureKeys());
      return mutate(id, async (tx, sub, now) => {
        notCanceled(sub);
        if (sub.planKey !== version.planKey || sub.planVersion >= version.version) return { sub };
        // Same plan, newer version: the timeline's dates stay; phases are matched by key.
        const next: Subscription = { ...sub, planVersion: version.version, planVersionId: version.id };
        await closeSegment(tx, sub.id, now);
        await openSegment(tx, next, now, 'migrate');
        return { sub: next, event: 'subscription.plan_changed' };
      });
    },

    async migratePlan(planKey, options = {}) {
      const version = await resolveVersion(planKey, options.toVersion);
      const candidates = await db
        .selectFrom('subscriptions')
        .select('id')
        .where('plan_key', '=', planKey)
        .where('plan_version', '<', version.version)
        .where('status', '<>', 'canceled')
        .$if(options.customerId !== undefined, (q) => q.where('customer_id', '=', options.customerId!))
        .execute();
      const migrated: Subscription[] = [];
      for (const { id } of candidates) migrated.push(await service.migrate(id, version.version));
      return { toVersion: version.version, migrated };
    },

    async setOverrides(id, raw) {
      const overrides = parseOrThrow(contractOverridesSchema, raw, 'contract overrides');
      const current = await service.require(id);
      const version = await resolveVersion(current.planKey, current.planVersion);
      validateOverrides(version.definition, overrides, await featureKeys());
      return mutate(id, async (tx, sub, now) => {
        notCanceled(sub);
        const next = { ...sub, overrides };
        await closeSegment(tx, sub.id, now);
        await openSegment(tx, next, now, 'overrides');
        return { sub: next, event: 'subscription.updated' };
      });
    },

    async rollover(id) {
      const sub = await service.require(id);
      if (sub.status === 'canceled' || clock.now().getTime() < sub.currentPeriod.to.getTime()) return sub;
      return mutate(id, async (_tx, rolled) => ({ sub: rolled }));
    },

    async rolloverDue() {
      const due = await db
        .selectFrom('subscriptions')
        .select('id')
        .where('status', '<>', 'canceled')
        .where('current_period_end', '<=', clock.now())
        .execute();
      for (const { id } of due) await service.rollover(id);
      return due.length;
    },

    markPastDue: (id) =>
      mutate(id, async (_tx, sub) => {
        notCanceled(sub);
        if (sub.status === 'past_due' || sub.status === 'suspended') return { sub };
        return { sub: { ...sub, status: 'past_due' }, event: 'subscription.past_due' };
      }),

    suspend: (id) =>
      mutate(id, async (_tx, sub) => {
        notCanceled(sub);
        if (sub.status === 'suspended') return { sub };
        return { sub: { ...sub, status: 'suspended' }, event: 'subscription.suspended' };
      }),

    reactivate: (id) =>
      mutate(id, async (_tx, sub, now) => {
        notCanceled(sub);
        if (sub.status !== 'past_due' && sub.status !== 'suspended') return { sub };
        const trial = sub.phases[phaseIndexAt(sub.phases, now)]?.trial ?? false;
        return {
          sub: { ...sub, status: trial ? 'trialing' : 'active' },
          event: 'subscription.reactivated',
        };
      }),

    async planVersionOf(sub) {
      const version =
        catalogCache.get(sub.planVersionId) ?? (await catalog.getPlanVersionById(sub.planVersionId));
      if (!version) throw problems.internal(`plan version ${sub.planVersionId} is missing`);
      catalogCache.set(version.id, version);
      return version;
    },

    async effectiveRateCards(subscription, at) {
      const sub = typeof subscription === 'string' ? await service.require(subscription) : subscription;
      const version = await service.planVersionOf(sub);
      const when = at ?? clock.now();
      const phase = sub.phases[phaseIndexAt(sub.phases, when)];
      return applyOverrides(version.definition, version.version, phase?.key ?? '', sub.overrides);
    },

    onEvent(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
  return service;
}
