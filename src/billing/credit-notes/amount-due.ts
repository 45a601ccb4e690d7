import { Decimal, minorUnits } from '../../util/money.ts';

/**
 * What credit notes do to an issued invoice's amount due, pure and Decimal-exact. The invoice's
 * lines and total never change; its amount due (what a charge or dunning retry collects) goes
 * down by a note's pre-payment part and back up when that note is voided.
 *
 * - An amount due of zero settles the invoice: it is paid, as Stripe marks an invoice whose
 *   credit notes leave nothing to pay (and as Tollgate issues a zero-due invoice as paid).
 * - Voiding follows Stripe: "You can only void a credit note if the associated invoice is open"
 *   (async-stripe `src/resources/credit_note_ext.rs`, `CreditNote::void`). So a note whose
 *   invoice is paid (including one paid by credit notes) stays; so does one that sent a refund
 *   (refunds happen only on paid invoices) or put credit on the customer's balance, which the
 *   customer may have spent already.
 */
export interface OpenInvoice {
  status: string;
  currency: string;
  amountDue: string;
}

export interface AmountDueChange {
  amountDue: string;
  /** The invoice is settled by this change (its amount due reached zero). */
  paid: boolean;
}

/** The invoice's amount due once a credit note took `prePayment` off it. */
export function afterCreditNote(invoice: OpenInvoice, prePayment: string): AmountDueChange {
  const due = new Decimal(invoice.amountDue).sub(prePayment);
  if (due.lt(0)) throw new RangeError('A credit note cannot take the amount due below zero.');
  const fixed = due.toFixed(minorUnits(invoice.currency));
  return { amountDue: fixed, paid: new Decimal(prePayment).gt(0) && due.isZero() };
}

/** The invoice's amount due once the credit note that took `prePayment` off it is voided. */
export function afterVoid(invoice: OpenInvoice, prePayment: string): AmountDueChange {
  const due = new Decimal(invoice.amountDue).add(prePayment);
  return { amountDue: due.toFixed(minorUnits(invoice.currency)), paid: false };
}

/** Why a credit note cannot be voided, or null when it can. */
export function voidRefusal(
  note: { status: string; number: string; refundAmount: string; creditAmount: string },
  invoice: { status: string; number: string | null },
): string | null {
  if (note.status === 'void') return `Credit note ${note.number} is void already.`;
  if (new Decimal(note.refundAmount).gt(0)) {
    return `Credit note ${note.number} sent a refund, which cannot be taken back; issue an invoice for the amount instead.`;
  }
  if (new Decimal(note.creditAmount).gt(0)) {
    return `Credit note ${note.number} added credit to the customer's balance, which may be spent already; it cannot be voided.`;
  }
  if (invoice.status !== 'issued') {
    return `Only a credit note of an open (issued, unpaid) invoice can be voided; invoice ${invoice.number ?? ''} is ${invoice.status}.`;
  }
  return null;
}
