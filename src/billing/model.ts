import type { Kysely } from 'kysely';
import type { RateCardConfig } from '../config/schema.ts';
import type { BaseDatabase } from '../store/index.ts';
import type { TierBreakdown } from './rating.ts';
import type { PercentagePrice, TakeRateTotals } from './rating-take-rates.ts';

/** Billing's view of the data it stores. Money is a fixed-point decimal string everywhere. */
export type InvoiceStatus = 'draft' | 'issued' | 'paid' | 'void' | 'uncollectible';

export interface InvoiceLine {
  position: number;
  key: string;
  kind: string;
  description: string;
  rateCardKey: string | null;
  featureKey: string | null;
  planKey: string | null;
  planVersion: number | null;
  periodFrom: string;
  periodTo: string;
  quantity: string;
  unitPrice: string | null;
  amount: string;
  tiers: TierBreakdown[] | null;
}

export interface Invoice {
  id: string;
  number: string | null;
  customerId: string;
  subscriptionId: string | null;
  status: InvoiceStatus;
  currency: string;
  periodFrom: string;
  periodTo: string;
  subtotal: string;
  taxRate: string | null;
  tax: string;
  total: string;
  creditsApplied: string;
  amountDue: string;
  rail: string | null;
  issuedAt: string | null;
  dueAt: string | null;
  paidAt: string | null;
  voidedAt: string | null;
  paymentAttempts: number;
  nextPaymentAttemptAt: string | null;
  lastPaymentError: string | null;
  /**
   * Where the customer pays this issued invoice on the provider's page, for rails that cannot
   * charge a saved payment method (Paddle renewals); null otherwise.
   */
  paymentUrl: string | null;
  metadata: Record<string, unknown>;
  createdAt: string;
  lines: InvoiceLine[];
}

/** What billing needs to know about a subscription (provided by the subscriptions module). */
export interface BillingSubscription {
  id: string;
  customerId: string;
  status: 'trialing' | 'active' | 'past_due' | 'suspended' | 'canceled';
  planKey: string;
  planVersion: number;
  currency: string;
  currentPeriod: { from: Date; to: Date };
  /**
   * Hints from `listDue` that save a query each in the billing run: whether the customer has any
   * credit ledger rows and whether the period already has an earlier (checkout) invoice.
   * Absent = unknown (then billing looks).
   */
  hints?: { hasCredits: boolean; hasPriorInvoice: boolean; hasDiscounts?: boolean };
}

/** A stretch of the period with one plan version and phase (rating input without usage). */
export interface BillingSegment {
  from: Date;
  to: Date;
  planKey: string;
  planVersion: number;
  phaseKey?: string;
  trial?: boolean;
  rateCards: readonly RateCardConfig[];
  /** Calendar billing: the whole period a short first period is prorated against. */
  fullPeriod?: { from: Date; to: Date };
}

export interface BillingCustomer {
  id: string;
  name: string;
  email?: string | null;
}

/**
 * The port to the subscriptions module: billing reads subscriptions and asks for status changes
 * and period roll-overs through it, never through their tables.
 */
export interface SubscriptionPort {
  get(subscriptionId: string): Promise<BillingSubscription | null>;
  /** Subscriptions whose current period ended at or before `asOf` (not canceled), ordered by id. */
  listDue(asOf: Date, afterId: string | null, limit: number): Promise<BillingSubscription[]>;
  listForCustomer(customerId: string): Promise<BillingSubscription[]>;
  /** Plan versions and phases over [from, to): the segments to rate. */
  segments(subscription: BillingSubscription, period: { from: Date; to: Date }): Promise<BillingSegment[]>;
  /** Moves the subscription to its next period if its current one still ends at `periodTo` (idempotent). */
  rollOver(subscriptionId: string, periodTo: Date): Promise<void>;
  /**
   * Optional, for the billing run: moves every listed subscription whose current period has
   * ended to its next period, in one transaction (all or none).
   */
  rollOverMany?(subscriptionIds: readonly string[]): Promise<void>;
  markPastDue(subscriptionId: string): Promise<void>;
  suspend(subscriptionId: string): Promise<void>;
  reactivate(subscriptionId: string): Promise<void>;
  customer(customerId: string): Promise<BillingCustomer | null>;
  /**
   * Starts a subscription to a plan of the current config (portal checkout). `inTransaction`
   * runs in the transaction that creates it (a coupon's redemption); its throw undoes it.
   */
  subscribe?(
    customerId: string,
    planKey: string,
    inTransaction?: (tx: Db, subscriptionId: string) => Promise<void>,
  ): Promise<BillingSubscription>;
  /** Ends a subscription now (a checkout whose first payment was declined). */
  cancel?(subscriptionId: string): Promise<void>;
}

/** Usage per feature key over [from, to) for a customer/subscription. */
export interface UsagePort {
  usage(
    customerId: string,
    subscriptionId: string,
    featureKeys: readonly string[],
    from: Date,
    to: Date,
  ): Promise<Record<string, string>>;
  /**
   * A take-rate price applied to each of the customer's transactions (metered events of the
   * feature) in [from, to), summed where the events are (rating-take-rates.ts has the rule).
   * Absent: the port cannot rate per transaction, and a plan with a take rate fails to bill.
   */
  transactions?(
    customerId: string,
    featureKey: string,
    price: PercentagePrice,
    from: Date,
    to: Date,
  ): Promise<TakeRateTotals>;
}

/**
 * Events billing emits (delivered as outgoing webhooks by notify). Billing writes each event with
 * `enqueue`, in the transaction of the change it reports, so the change and its event commit
 * together or not at all; `emit` (its own transaction) is for events that report no stored change.
 */
export interface EventSink {
  emit(type: string, data: Record<string, unknown>): Promise<unknown>;
  /** Writes the event with `tx`, the transaction of the change it reports (notify's outbox). */
  enqueue(tx: Db, type: string, data: Record<string, unknown>): Promise<unknown>;
}

/** For billing built without notify (tests, tools): events go nowhere. */
export const noEvents: EventSink = { emit: async () => {}, enqueue: async () => {} };

export type Db = Kysely<BaseDatabase>;

export function iso(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  return new Date(value as string | Date).toISOString();
}
