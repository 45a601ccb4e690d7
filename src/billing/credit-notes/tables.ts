import type { ColumnType, Kysely } from 'kysely';
import type { Db } from '../model.ts';
import type { CreditNoteReason } from './model.ts';

/**
 * The tables credit notes read and write, as Kysely sees them (migrations 0750, 0751). Money
 * columns are `numeric`: read as text (`cast(… as text)`), written as decimal strings, so no
 * amount passes through a float. Invoices, payments and counters are typed only as far as
 * credit notes use them.
 */
type Money = ColumnType<string, string, string>;
type Stamp = ColumnType<Date | string, Date, Date>;

export type CreditNoteTables = {
  billing_credit_notes: {
    id: string;
    number: string;
    invoice_id: string;
    customer_id: string;
    currency: string;
    status: 'issued' | 'void';
    reason: CreditNoteReason;
    memo: string | null;
    subtotal: Money;
    tax: Money;
    total: Money;
    pre_payment_amount: Money;
    refund_amount: Money;
    credit_amount: Money;
    out_of_band_amount: Money;
    refund_payment_id: string | null;
    issued_at: Stamp;
    voided_at: ColumnType<Date | string | null, Date | null, Date | null>;
    created_at: Stamp;
  };
  billing_credit_note_lines: {
    credit_note_id: string;
    position: number;
    invoice_line_position: number | null;
    description: string;
    quantity: ColumnType<string | null, string | null, string | null>;
    amount: Money;
  };
  billing_invoices: {
    id: string;
    number: string | null;
    status: string;
    amount_due: Money;
    paid_at: ColumnType<Date | string | null, never, Date | null>;
    next_payment_attempt_at: ColumnType<Date | string | null, never, Date | null>;
  };
  billing_payments: {
    id: string;
    invoice_id: string | null;
    customer_id: string;
    idempotency_key: string;
    purpose: 'invoice' | 'refund' | 'topup';
    rail: string;
    status: 'pending' | 'succeeded' | 'failed' | 'refunded';
    amount: Money;
    currency: string;
    rail_ref: string | null;
    failure_code: string | null;
    failure_message: string | null;
    created_at: Stamp;
    updated_at: Stamp;
  };
  billing_counters: { name: string; value: ColumnType<string | number, number, number> };
};

export type CreditNoteDb = Kysely<CreditNoteTables>;

/** The store (or a transaction of it) with the credit-note tables typed. */
export const creditNoteDb = (db: Db): CreditNoteDb => db.withTables<CreditNoteTables>();
