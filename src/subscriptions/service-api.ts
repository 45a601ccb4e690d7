import type { Kysely } from 'kysely';
import type { CatalogService, PlanVersion } from '../catalog/index.ts';
import type { BaseDatabase, ChangeFeed, Store } from '../store/index.ts';
import type { Clock } from '../util/clock.ts';
import type { EffectivePlan } from './contracts.ts';
import type { CustomerService } from './customers.ts';
import type {
  ContractOverrides,
  Subscription,
  SubscriptionPeriod,
  SubscriptionSegment,
  SubscriptionStatus,
} from './model.ts';

/** What the subscription service offers (service.ts builds it), its inputs, events and deps. */
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
  /** Runs in the plan change's transaction, which it undoes by throwing (checkout's coupon). */
  inTransaction?: (tx: Kysely<BaseDatabase>, subscription: Subscription) => Promise<void>;
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
