import type { ColumnType, Kysely } from 'kysely';
import type { Db } from '../model.ts';
import type { BillingTables } from '../tables.ts';
import type { CreditNoteReason } from './model.ts';

/**
 * The tables credit notes read and write, as Kysely sees them (migrations 0750, 0751). Money
 * columns are `numeric`: read as text (`cast(… as text)`), written as decimal strings, so no
 * amount passes through a float. Invoices, payments and counters are billing's (../tables.ts).
 */
type Money = ColumnType<string, string, string>;
type Stamp = ColumnType<Date | string, Date, Date>;

export type CreditNoteTables = Pick<
  BillingTables,
  'billing_invoices' | 'billing_payments' | 'billing_counters'
> & {
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
};

export type CreditNoteDb = Kysely<CreditNoteTables>;

/** The store (or a transaction of it) with the credit-note tables typed. */
export const creditNoteDb = (db: Db): CreditNoteDb => db.withTables<CreditNoteTables>();
