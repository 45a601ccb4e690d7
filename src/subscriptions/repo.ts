import type { Kysely } from 'kysely';
import type {
  ContractOverrides,
  Customer,
  PendingChange,
  Subscription,
  SubscriptionPeriod,
  SubscriptionSegment,
  SubscriptionStatus,
} from './model.ts';
import { phasesFromJson, type StoredPhaseEntry } from './periods.ts';

type Json<T> = T | string;

export type SubscriptionTables = {
  customers: {
    id: string;
    name: string;
    email: string | null;
    currency: string;
    metadata: Json<Record<string, unknown>>;
    billing_details: Json<Record<string, unknown>>;
    created_at: Date;
    updated_at: Date;
    deleted_at: Date | null;
  };
  subscriptions: {
    id: string;
    customer_id: string;
    plan_key: string;
    plan_version: number;
    plan_version_id: string;
    status: SubscriptionStatus;
    started_at: Date;
    current_period_start: Date;
    current_period_end: Date;
    phases: Json<StoredPhaseEntry[]>;
    cancel_at_period_end: boolean;
    canceled_at: Date | null;
    ended_at: Date | null;
    pending_change: Json<StoredPendingChange> | null;
    overrides: Json<ContractOverrides>;
    metadata: Json<Record<string, unknown>>;
    created_at: Date;
    updated_at: Date;
  };
  subscription_segments: {
    id: string;
    subscription_id: string;
    plan_key: string;
    plan_version: number;
    plan_version_id: string;
    overrides: Json<ContractOverrides>;
    from: Date;
    to: Date | null;
    reason: SubscriptionSegment['reason'];
  };
  subscription_periods: {
    subscription_id: string;
    period_start: Date;
    period_end: Date;
    closed_at: Date | null;
  };
};

export type SubscriptionDb = Kysely<SubscriptionTables>;

interface StoredPendingChange {
  planKey: string;
  version: number;
  planVersionId: string;
  effectiveAt: string;
}

const json = <T>(value: Json<T>): T => (typeof value === 'string' ? (JSON.parse(value) as T) : value);

export function toCustomer(row: SubscriptionTables['customers']): Customer {
  return {
    id: row.id,
    name: row.name,
    email: row.email,
    currency: row.currency,
    metadata: json(row.metadata) ?? {},
    billingDetails: json(row.billing_details) ?? {},
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    deletedAt: row.deleted_at,
  };
}

export function toSubscription(row: SubscriptionTables['subscriptions']): Subscription {
  const pending = row.pending_change ? json(row.pending_change) : null;
  return {
    id: row.id,
    customerId: row.customer_id,
    planKey: row.plan_key,
    planVersion: row.plan_version,
    planVersionId: row.plan_version_id,
    status: row.status,
    startedAt: row.started_at,
    currentPeriod: { from: row.current_period_start, to: row.current_period_end },
    phases: phasesFromJson(json(row.phases)),
    cancelAtPeriodEnd: row.cancel_at_period_end,
    canceledAt: row.canceled_at,
    endedAt: row.ended_at,
    pendingChange: pending ? { ...pending, effectiveAt: new Date(pending.effectiveAt) } : null,
    overrides: json(row.overrides) ?? {},
    metadata: json(row.metadata) ?? {},
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

export function pendingToJson(change: PendingChange | null): string | null {
  return change ? JSON.stringify({ ...change, effectiveAt: change.effectiveAt.toISOString() }) : null;
}

export function toSegment(row: SubscriptionTables['subscription_segments']): SubscriptionSegment {
  return {
    id: row.id,
    subscriptionId: row.subscription_id,
    planKey: row.plan_key,
    planVersion: row.plan_version,
    planVersionId: row.plan_version_id,
    overrides: json(row.overrides) ?? {},
    from: row.from,
    to: row.to,
    reason: row.reason,
  };
}

export function toPeriod(row: SubscriptionTables['subscription_periods']): SubscriptionPeriod {
  return {
    subscriptionId: row.subscription_id,
    from: row.period_start,
    to: row.period_end,
    closedAt: row.closed_at,
  };
}

export async function selectSubscriptionForUpdate(db: SubscriptionDb, id: string) {
  const row = await db
    .selectFrom('subscriptions')
    .selectAll()
    .where('id', '=', id)
    .forUpdate()
    .executeTakeFirst();
  return row ? toSubscription(row) : null;
}

export async function selectCustomer(db: SubscriptionDb, id: string) {
  const row = await db.selectFrom('customers').selectAll().where('id', '=', id).executeTakeFirst();
  return row ? toCustomer(row) : null;
}
