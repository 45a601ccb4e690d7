import { Decimal, minorUnits, roundMoney } from '../../util/money.ts';
import type { TaxRate } from '../deps.ts';
import type { Invoice, InvoiceStatus } from '../model.ts';
import type { RatedLine } from '../rating.ts';
import type { PaymentRow } from '../repo.ts';

/** What invoices are as they are written, paid and reported in events; pure, no I/O. */

/** What `createAndIssue` writes: one invoice, idempotent by `key`. */
export interface InvoiceInput {
  key: string;
  customerId: string;
  subscriptionId: string | null;
  currency: string;
  period: { from: Date; to: Date };
  lines: RatedLine[];
  applyCredits: boolean;
  metadata?: Record<string, unknown>;
  issue?: boolean;
}

/** An invoice as `createAndIssue(Many)` wrote it, with its first charge attempt (card rails). */
export interface Created {
  id: string;
  number: string | null;
  status: InvoiceStatus;
  customerId: string;
  subscriptionId: string | null;
  currency: string;
  total: string;
  amountDue: string;
  periodFrom: string;
  periodTo: string;
  creditsApplied: string;
  payment: PaymentRow | null;
}

/** The invoice a charge attempt is for. */
export interface ChargeTarget {
  id: string;
  customerId: string;
  number: string | null;
  currency: string;
}

/** An invoice just paid, as the statements that pay it return it. */
export interface PaidRow {
  id: string;
  number: string | null;
  customer_id: string;
  subscription_id: string | null;
  currency: string;
  total: string;
  amount_due: string;
  period_from: Date | string;
  period_to: Date | string;
  first_failed_at: Date | string | null;
}

/** `PaidRow`'s columns, for the statements (rail confirmations) that return it by hand. */
export const PAID_RETURNING = `id, number, customer_id, subscription_id, currency, total::text as total, amount_due::text as amount_due,
                 period_from, period_to, first_failed_at`;

/** Subtotal, tax (rounded once, on the subtotal) and total of an invoice's lines. */
export function totals(lines: readonly { amount: string }[], currency: string, taxRate: TaxRate | null) {
  const subtotal = lines.reduce((acc, l) => acc.add(l.amount), new Decimal(0));
  const tax = taxRate ? roundMoney(subtotal.mul(taxRate), currency) : new Decimal(0);
  return { subtotal, tax, total: subtotal.add(tax) };
}

/** An invoice as events carry it. */
export function summary(invoice: Invoice) {
  return {
    id: invoice.id,
    number: invoice.number,
    customerId: invoice.customerId,
    subscriptionId: invoice.subscriptionId,
    status: invoice.status,
    currency: invoice.currency,
    total: invoice.total,
    amountDue: invoice.amountDue,
    periodFrom: invoice.periodFrom,
    periodTo: invoice.periodTo,
  };
}

/** An invoice as `createAndIssue(Many)` wrote it, as events carry it (`summary`'s fields). */
export function createdSummary(created: Created) {
  return {
    id: created.id,
    number: created.number,
    customerId: created.customerId,
    subscriptionId: created.subscriptionId,
    status: created.status,
    currency: created.currency,
    total: created.total,
    amountDue: created.amountDue,
    periodFrom: created.periodFrom,
    periodTo: created.periodTo,
  };
}

/** An invoice just paid, as events carry it (`summary`'s fields). */
export function paidSummary(row: PaidRow) {
  const digits = minorUnits(row.currency);
  return {
    id: row.id,
    number: row.number,
    customerId: row.customer_id,
    subscriptionId: row.subscription_id,
    status: 'paid',
    currency: row.currency,
    total: new Decimal(row.total).toFixed(digits),
    amountDue: new Decimal(row.amount_due).toFixed(digits),
    periodFrom: new Date(row.period_from).toISOString(),
    periodTo: new Date(row.period_to).toISOString(),
  };
}

/** The first charge attempt written with a new invoice (card rails), as `PaymentRow`. */
export function firstAttempt(input: {
  id: string;
  invoiceId: string;
  customerId: string;
  rail: string;
  amount: string;
  currency: string;
  now: Date;
}): PaymentRow {
  return {
    id: input.id,
    invoice_id: input.invoiceId,
    customer_id: input.customerId,
    idempotency_key: firstAttemptKey(input.invoiceId),
    purpose: 'invoice',
    rail: input.rail,
    status: 'pending',
    amount: input.amount,
    currency: input.currency,
    rail_ref: null,
    failure_code: null,
    failure_message: null,
    created_at: input.now,
  };
}

/** Every charge attempt has its own key, passed to the rail: a rerun never charges twice. */
export const firstAttemptKey = (invoiceId: string) => `inv:${invoiceId}:attempt:1`;
