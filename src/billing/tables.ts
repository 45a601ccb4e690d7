import type { ColumnType, Kysely } from 'kysely';
import type { Db, InvoiceStatus } from './model.ts';
import type { TierBreakdown } from './rating.ts';

/**
 * The tables invoices, payments and rail customers read and write, as Kysely sees them
 * (migrations 0501–0503). Money columns are `numeric`: read as text (`cast(… as text)`), written
 * as decimal strings, so no amount passes through a float. Timestamps read as `Date` on
 * PostgreSQL and as strings on some drivers, so reads accept both.
 */
type Money = ColumnType<string, string, string>;
type MaybeMoney = ColumnType<string | null, string | null, string | null>;
type Stamp = ColumnType<Date | string, Date | string, Date | string>;
type MaybeStamp = ColumnType<Date | string | null, Date | string | null, Date | string | null>;
type Json<T> = ColumnType<T | string, string, string>;

export type PaymentStatus = 'pending' | 'succeeded' | 'failed' | 'refunded';

export type BillingTables = {
  billing_counters: { name: string; value: ColumnType<string | number, number, number> };
  billing_invoices: {
    id: string;
    number: string | null;
    customer_id: string;
    subscription_id: string | null;
    idempotency_key: string;
    status: InvoiceStatus;
    currency: string;
    period_from: Stamp;
    period_to: Stamp;
    subtotal: Money;
    tax_rate: MaybeMoney;
    tax: Money;
    total: Money;
    credits_applied: Money;
    amount_due: Money;
    rail: string | null;
    issued_at: MaybeStamp;
    due_at: MaybeStamp;
    paid_at: MaybeStamp;
    voided_at: MaybeStamp;
    payment_attempts: number;
    next_payment_attempt_at: MaybeStamp;
    first_failed_at: MaybeStamp;
    last_payment_error: string | null;
    payment_url: string | null;
    metadata: Json<Record<string, unknown>>;
    created_at: Stamp;
  };
  billing_invoice_lines: {
    invoice_id: string;
    position: number;
    key: string;
    kind: string;
    description: string;
    rate_card_key: string | null;
    feature_key: string | null;
    plan_key: string | null;
    plan_version: number | null;
    period_from: Stamp;
    period_to: Stamp;
    quantity: Money;
    unit_price: MaybeMoney;
    amount: Money;
    tiers: ColumnType<TierBreakdown[] | string | null, string | null, string | null>;
  };
  billing_payments: {
    id: string;
    invoice_id: string | null;
    customer_id: string;
    idempotency_key: string;
    purpose: string;
    rail: string;
    status: PaymentStatus;
    amount: Money;
    currency: string;
    rail_ref: string | null;
    failure_code: string | null;
    failure_message: string | null;
    created_at: Stamp;
    updated_at: Stamp;
  };
  billing_rail_customers: {
    customer_id: string;
    rail: string;
    rail_customer_id: string;
    payment_method_id: string | null;
    payment_method_label: string | null;
    created_at: ColumnType<Date | string, Date | string | undefined, never>;
  };
  billing_rail_events: {
    rail: string;
    event_id: string;
    type: string;
    received_at: ColumnType<Date | string, Date | string | undefined, never>;
  };
  /** The sandbox rail's own charges, one per idempotency key (as a provider keeps them). */
  billing_sandbox_charges: {
    idempotency_key: string;
    id: string;
    customer_ref: string;
    amount: Money;
    currency: string;
    status: string;
    failure_code: string | null;
    created_at: ColumnType<Date | string, Date | string | undefined, never>;
  };
  /** Checkout gives back what a voided first invoice drew (credits.ts owns the ledger). */
  billing_credit_ledger: {
    id: string;
    customer_id: string;
    currency: string;
    kind: string;
    amount: Money;
    grant_id: string | null;
    invoice_id: string | null;
    idempotency_key: string | null;
    note: string | null;
    created_at: Stamp;
  };
};

export type BillingDb = Kysely<BillingTables>;

/** The store (or a transaction of it) with billing's tables typed. */
export const billingDb = (db: Db): BillingDb => db.withTables<BillingTables>();
