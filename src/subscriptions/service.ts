import { type Kysely, sql } from 'kysely';
import type { CatalogService, PlanVersion } from '../catalog/index.ts';
import { type CatalogTables, toPlanVersion } from '../catalog/index.ts';
import { problems } from '../http/problem.ts';
import type { BaseDatabase, ChangeFeed, Store } from '../store/index.ts';
import type { Clock } from '../util/clock.ts';
import { newId } from '../util/ids.ts';
import { applyOverrides, type EffectivePlan, validateOverrides } from './contracts.ts';
import type { CustomerService } from './customers.ts';
import {
  type ContractOverrides,
  contractOverridesSchema,
  type PendingChange,
  type Subscription,
  type SubscriptionPeriod,
  type SubscriptionSegment,
  type SubscriptionStatus,
} from './model.ts';
import {
  billingPeriodAt,
  layoutPhases,
  type Period,
  type PhaseEntry,
  phaseIndexAt,
  phasesToJson,
} from './periods.ts';
import {
  pendingToJson,
  type SubscriptionDb,
  type SubscriptionTables,
  selectSubscriptionForUpdate,
  toCustomer,
  toPeriod,
  toSegment,
  toSubscription,
} from './repo.ts';
import { parseOrThrow } from './validation.ts';

/**
 * Subscriptions: a customer on a plan version, with a phase timeline, a current billing period
 * and a history of segments (which version was in force when) for proration by second.
 * Every operation is one transaction on the locked subscription row, takes its time from the
 * clock, and publishes a change so the gateway's access views are rebuilt at once.
 */
export interface SubscribeInput {
  customerId: string;
  planKey: string;
  /** A published version; default the latest. */
  version?: number;
  /** Start with the plan's trial phase when it has one (default true). */
  trial?: boolean;
  overrides?: ContractOverrides;
  metadata?: Record<string, unknown>;
  /**
   * Runs in the transaction that creates the subscription, which it undoes by throwing: checkout
   * redeems its coupon here, so a coupon used up meanwhile leaves no subscription behind.
   */
  inTransaction?: (tx: Kysely<BaseDatabase>, subscription: Subscription) => Promise<void>;
}

export type ChangeTiming = 'now' | 'period_end';

export interface ChangePlanInput {
  planKey: string;
  version?: number;
  /** `now`: effective at once, prorated by second (upgrades). `period_end`: scheduled (downgrades). */
  timing?: ChangeTiming;
}

export interface SubscriptionEvent {
  type:
    | 'subscription.created'
    | 'subscription.plan_changed'
    | 'subscription.change_scheduled'
    | 'subscription.updated'
    | 'subscription.canceled'
    | 'subscription.renewed'
    | 'subscription.status_changed'
    | 'subscription.past_due'
    | 'subscription.suspended'
    | 'subscription.reactivated';
  subscription: Subscription;
  previous?: Subscription;
}

export interface SubscriptionService {
  subscribe(input: SubscribeInput): Promise<Subscription>;
  get(id: string): Promise<Subscription | null>;
  require(id: string): Promise<Subscription>;
  list(filter?: {
    customerId?: string;
    planKey?: string;
    status?: SubscriptionStatus;
    limit?: number;
    offset?: number;
  }): Promise<Subscription[]>;
  /** The customer's subscription that is not canceled (the latest, if several), or null. */
  currentForCustomer(customerId: string): Promise<Subscription | null>;
  /** Plan change: `now` (upgrade, prorated) or at `period_end` (downgrade, scheduled). */
  changePlan(id: string, input: ChangePlanInput): Promise<Subscription>;
  upgrade(id: string, planKey: string, version?: number): Promise<Subscription>;
  downgrade(id: string, planKey: string, version?: number): Promise<Subscription>;
  /** Drops a scheduled plan change. */
  cancelPendingChange(id: string): Promise<Subscription>;
  cancel(id: string, options?: { timing?: ChangeTiming }): Promise<Subscription>;
  /** Undoes a cancel scheduled for the period end. */
  resume(id: string): Promise<Subscription>;
  /** Moves the subscription to a newer version of its plan (default the latest), now. */
  migrate(id: string, toVersion?: number): Promise<Subscription>;
  /** `tollgate plans migrate`: every subscriber of the plan on an older version (or one customer's). */
  migratePlan(
    planKey: string,
    options?: { toVersion?: number; customerId?: string },
  ): Promise<{ toVersion: number; migrated: Subscription[] }>;
  setOverrides(id: string, overrides: ContractOverrides): Promise<Subscription>;
  /** Advances the current period (and phases, pending changes, scheduled cancels) up to now. */
  rollover(id: string): Promise<Subscription>;
  /** Rolls every subscription whose period ended; returns how many moved. */
  rolloverDue(): Promise<number>;
  /**
   * Billing run: `rollover` for many subscriptions in one transaction (all or none). The common
   * case (one step to the next period) is one statement for all of them; scheduled cancels, plan
   * changes and subscriptions several periods behind go through the same steps as `rollover`.
   * Returns the subscriptions that moved.
   */
  rolloverMany(ids: readonly string[]): Promise<Subscription[]>;
  /** Several subscriptions in one query (missing ids are left out). */
  getMany(ids: readonly string[]): Promise<Subscription[]>;
  /** Segment histories of several subscriptions in one query, by subscription id. */
  segmentsMany(ids: readonly string[]): Promise<Map<string, SubscriptionSegment[]>>;
  /** Billing/dunning: a payment failed. */
  markPastDue(id: string): Promise<Subscription>;
  /** Dunning: grace period over; keys are blocked with 402. */
  suspend(id: string): Promise<Subscription>;
  /** Payment received: back to active (or trialing during a trial). */
  reactivate(id: string): Promise<Subscription>;
  segments(id: string): Promise<SubscriptionSegment[]>;
  periods(id: string): Promise<SubscriptionPeriod[]>;
  /** The plan version's current phase with the contract applied: what enforcement and billing use. */
  effectiveRateCards(subscription: Subscription | string, at?: Date): Promise<EffectivePlan>;
  planVersionOf(subscription: Subscription): Promise<PlanVersion>;
  /**
   * In-process notifications (webhooks, emails), after commit. A listener may return a promise:
   * the operation waits for it (its failure is ignored). Returns an unsubscribe function.
   */
  onEvent(listener: (event: SubscriptionEvent) => void | Promise<void>): () => void;
}

export interface SubscriptionDeps {
  store: Store;
  changes: ChangeFeed;
  clock: Clock;
  catalog: CatalogService;
  customers: CustomerService;
  /**
   * Writes events (webhooks) with the transaction of the change they report, so a crash cannot
   * separate them (the notify module's outbox). In-process listeners still run after commit.
   */
  outbox?: (tx: Kysely<BaseDatabase>, events: SubscriptionEvent[]) => Promise<void>;
}

/** A status change also carries the status-specific event. */
const STATUS_EVENTS = new Set<SubscriptionEvent['type']>([
  'subscription.past_due',
  'subscription.suspended',
  'subscription.reactivated',
]);

type Tx = SubscriptionDb;

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
    ) => Promise<{ sub: Subscription; event?: SubscriptionEvent['type'] }>,
  ): Promise<Subscription> {
    const now = clock.now();
    const { result, events } = await store.transaction(async (trx) => {
      const tx = trx.withTables<SubscriptionTables>();
      const locked = await selectSubscriptionForUpdate(tx, id);
      if (!locked) throw problems.notFound(`No subscription "${id}".`);
      const rolled = await rollIn(tx, locked, now);
      const out = await fn(tx, rolled.sub, now);
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

  const notCanceled = (sub: Subscription) => {
    if (sub.status === 'canceled') {
      throw problems.conflict(`Subscription "${sub.id}" is canceled; subscribe the customer again instead.`, {
        subscriptionId: sub.id,
      });
    }
  };

  const service: SubscriptionService = {
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
        // The customer row is locked: two concurrent subscribes for one customer run one after the other.
        const customerRow = await tx
          .selectFrom('customers')
          .selectAll()
          .where('id', '=', input.customerId)
          .forUpdate()
          .executeTakeFirst();
        const customer = customerRow ? toCustomer(customerRow) : null;
        if (!customer || customer.deletedAt) throw problems.notFound(`No customer "${input.customerId}".`);
        // One live subscription per customer: a plan change is a change, not a second subscription.
        const live = await tx
          .selectFrom('subscriptions')
          .select('id')
          .where('customer_id', '=', customer.id)
          .where('status', '<>', 'canceled')
          .executeTakeFirst();
        if (live) {
          throw problems.conflict(
            `Customer "${customer.id}" already has subscription "${live.id}"; change its plan instead.`,
            { subscriptionId: live.id },
          );
        }
        const phases = layoutPhases(version.definition, now, { skipTrial: input.trial === false });
        const period = billingPeriodAt(phases, version.definition.billingCadence, now);
        const id = newId('sub');
        const row = await tx
          .insertInto('subscriptions')
          .values({
            id,
            customer_id: customer.id,
            plan_key: version.planKey,
            plan_version: version.version,
            plan_version_id: version.id,
            status: phases[0]?.trial ? 'trialing' : 'active',
            started_at: now,
            current_period_start: period.from,
            current_period_end: period.to,
            phases: JSON.stringify(phasesToJson(phases)),
            cancel_at_period_end: false,
            canceled_at: null,
            ended_at: null,
            pending_change: null,
            overrides: JSON.stringify(overrides),
            metadata: JSON.stringify(input.metadata ?? {}),
            created_at: now,
            updated_at: now,
          })
          .returningAll()
          .executeTakeFirstOrThrow();
        const created = toSubscription(row);
        await openSegment(tx, created, now, 'subscribe');
        await openPeriod(tx, created);
        await input.inTransaction?.(trx, created);
        await deps.outbox?.(trx, [{ type: 'subscription.created', subscription: created }]);
        return created;
      });
      await emit([{ type: 'subscription.created', subscription: sub }]);
      return sub;
    },

    async get(id) {
      const row = await db.selectFrom('subscriptions').selectAll().where('id', '=', id).executeTakeFirst();
      return row ? toSubscription(row) : null;
    },

    async require(id) {
      const sub = await service.get(id);
      if (!sub) throw problems.notFound(`No subscription "${id}".`);
      return sub;
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

    async changePlan(id, input) {
      const timing = input.timing ?? 'now';
      const version = await resolveVersion(input.planKey, input.version, true);
      const current = await service.require(id);
      validateOverrides(version.definition, current.overrides, await featureKeys());
      return mutate(id, async (tx, sub, now) => {
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
          return { sub: { ...sub, pendingChange }, event: 'subscription.change_scheduled' };
        }
        const next = await switchPlan(tx, sub, version, now, sub.currentPeriod.from, 'change');
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

    async rolloverMany(ids) {
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
      await emit(events);
      return rolled;
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
