import type { ColumnType, Generated, Kysely } from 'kysely';
import type { Db } from '../model.ts';
import type { BillingTables } from '../tables.ts';

/**
 * The tables prepaid credits read and write, as Kysely sees them (migrations 0501, 0505, 0506).
 * Money columns are `numeric`: read as text (`cast(… as text)`), written as decimal strings, so
 * no amount passes through a float. Payments and invoices are billing's (../tables.ts): top-ups
 * are payments; plan credits wait for their subscription's invoices.
 */
type Money = ColumnType<string, string, string>;
type Stamp = ColumnType<Date | string, Date, Date>;
type MaybeStamp = ColumnType<Date | string | null, Date | null, Date | null>;

export type LedgerKind = 'grant' | 'topup' | 'usage' | 'expiry' | 'refund' | 'reservation' | 'release';

export type CreditTables = Pick<BillingTables, 'billing_payments' | 'billing_invoices'> & {
  billing_credit_ledger: {
    id: string;
    /** Insertion order (several rows share a timestamp); bigserial, read as text. */
    seq: Generated<string>;
    customer_id: string;
    currency: string;
    kind: LedgerKind;
    amount: Money;
    grant_id: string | null;
    expires_at: MaybeStamp;
    invoice_id: string | null;
    idempotency_key: string | null;
    note: string | null;
    created_at: Stamp;
  };
  /** Kept by the ledger's trigger (0505, 0506): never written here. */
  billing_credit_balances: {
    customer_id: string;
    currency: string;
    balance: ColumnType<string, never, never>;
    held: ColumnType<string, never, never>;
  };
  billing_credit_grant_remaining: { grant_id: string; remaining: ColumnType<string, never, never> };
  billing_credit_settings: {
    customer_id: string;
    currency: string;
    credits_only: boolean;
    auto_recharge_threshold: ColumnType<string | null, string | null, string | null>;
    auto_recharge_amount: ColumnType<string | null, string | null, string | null>;
  };
};

export type CreditDb = Kysely<CreditTables>;

/** The store (or a transaction of it) with the credit tables typed. */
export const creditDb = (db: Db): CreditDb => db.withTables<CreditTables>();
