/**
 * Credit notes reduce what a customer owes for an issued invoice without editing it (an issued
 * invoice is immutable): refunds, usage corrections, goodwill. Each is numbered (`CN-000001`),
 * has lines, a reason, its tax and how its total is settled, as Stripe's credit notes do
 * (`refund_amount + credit_amount + out_of_band_amount = total`; stripe-node
 * `cjs/resources/CreditNotes.d.ts`) and Lago's (`app/services/credit_notes/validate_service.rb`
 * in getlago/lago-api: refunds at most what is left of the invoice, the total at most the invoice
 * minus its earlier credit notes).
 */

/** Stripe's four reasons, plus Lago's `other` and the usage correction Tollgate needs. */
export const CREDIT_NOTE_REASONS = [
  'duplicate',
  'fraudulent',
  'order_change',
  'product_unsatisfactory',
  'usage_correction',
  'other',
] as const;
export type CreditNoteReason = (typeof CREDIT_NOTE_REASONS)[number];

export interface CreditNoteLine {
  position: number;
  /** The invoice line credited, or null for an amount not tied to one line. */
  invoiceLinePosition: number | null;
  description: string;
  quantity: string | null;
  /** Before tax, in the currency's minor digits. */
  amount: string;
}

export interface CreditNote {
  id: string;
  number: string;
  invoiceId: string;
  invoiceNumber: string | null;
  customerId: string;
  currency: string;
  status: 'issued' | 'void';
  /**
   * Stripe's `type`: `pre_payment` took its whole total off an open invoice's amount due,
   * `post_payment` none of it (the invoice was paid), `mixed` part of it.
   */
  type: 'pre_payment' | 'post_payment' | 'mixed';
  reason: CreditNoteReason;
  memo: string | null;
  subtotal: string;
  tax: string;
  total: string;
  /** Taken off the invoice's amount due (Stripe's `pre_payment_amount`). */
  prePaymentAmount: string;
  /** Refund + credit + out of band (Stripe's `post_payment_amount`). */
  postPaymentAmount: string;
  /** Paid back through the rail that collected the invoice. */
  refundAmount: string;
  /** Added to the customer's prepaid credits (used by their next invoices). */
  creditAmount: string;
  /** Settled outside Tollgate (a bank transfer the operator makes). */
  outOfBandAmount: string;
  refund: { id: string; status: 'pending' | 'succeeded' | 'failed'; railRef: string | null } | null;
  issuedAt: string;
  voidedAt: string | null;
  lines: CreditNoteLine[];
}

/** What an operator asks for: lines (each before tax), or one total amount (tax included). */
export interface CreditNoteRequest {
  reason: CreditNoteReason;
  memo?: string;
  lines?: { invoiceLine?: number; description?: string; quantity?: string; amount: string }[];
  /** The credit note's total, tax included (Stripe's `amount`), instead of lines. */
  amount?: string;
  /**
   * How the part not taken off the amount due is settled; defaults: refund what was paid, the
   * rest as customer credit.
   */
  refundAmount?: string;
  creditAmount?: string;
  outOfBandAmount?: string;
}

/** A refused credit note: which field, and why. Mapped to 400/409 problem+json at the edge. */
export class CreditNoteError extends Error {
  readonly field: string;
  readonly kind: 'invalid' | 'conflict';
  constructor(field: string, message: string, kind: 'invalid' | 'conflict' = 'invalid') {
    super(message);
    this.name = 'CreditNoteError';
    this.field = field;
    this.kind = kind;
  }
}
