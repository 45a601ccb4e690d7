import { Decimal, minorUnits, roundMoney } from '../../util/money.ts';
import { CreditNoteError, type CreditNoteRequest } from './model.ts';

/**
 * The arithmetic of a credit note, pure and Decimal-exact: its lines, tax and total, how the total
 * is settled, and the caps that keep every credit note of an invoice within what was invoiced and
 * every refund within what was paid. Throws `CreditNoteError` naming the field; changes nothing.
 *
 * - On an issued (open) invoice the total first lowers the invoice's amount due, never below zero
 *   (`prePaymentAmount`); only the rest (`post`) is settled below. On a paid invoice all of it is
 *   post-payment. Stripe: "A credit note will first reduce the invoice's `amount_remaining` (and
 *   `amount_due`), but not below zero … The excess amount is indicated by `post_payment_amount`"
 *   (stripe-node `types/CreditNotesResource.d.ts`, `create`; the note's `type` is `pre_payment`
 *   or `post_payment` in `types/CreditNotes.d.ts`).
 *
 * - Line amounts are before tax, rounded to the currency's minor unit; tax is the invoice's rate
 *   on their sum, rounded once (as the invoice's own tax). A credit note given by `amount` (tax
 *   included) splits it: tax = round(amount × rate / (1 + rate)), the rest is the line.
 * - total ≤ invoice total − earlier credit notes (Stripe; Lago `valid_global_amount?`); a line
 *   tied to an invoice line ≤ that line − what earlier credit notes took from it.
 * - refund + credit + out of band = post (Stripe), each ≥ 0; refund ≤ paid through the rail −
 *   refunded before (Lago `valid_refund_amount?`). Without a split: refund what can be refunded,
 *   the rest becomes customer credit.
 */
export interface CreditableInvoice {
  status: string;
  currency: string;
  total: string;
  /** What is still owed: the total less credits applied and earlier pre-payment credit notes. */
  amountDue: string;
  taxRate: string | null;
  lines: readonly { position: number; description: string; amount: string }[];
}

export interface PriorCredit {
  /** Totals of the invoice's credit notes that are not void. */
  creditedTotal: string;
  /** Per invoice line position: what earlier credit notes took from it. */
  creditedByLine: ReadonlyMap<number, string>;
  /** Succeeded payments of the invoice through a rail (or marked paid). */
  paid: string;
  /** Refunds of the invoice that have not failed. */
  refunded: string;
}

export interface PlannedCreditNote {
  lines: {
    invoiceLinePosition: number | null;
    description: string;
    quantity: string | null;
    amount: string;
  }[];
  subtotal: string;
  tax: string;
  total: string;
  /** Taken off the invoice's amount due (an issued, unpaid invoice). */
  prePaymentAmount: string;
  refundAmount: string;
  creditAmount: string;
  outOfBandAmount: string;
}

function money(value: string | undefined, field: string, currency: string): Decimal | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+(\.\d+)?$/.test(value)) {
    throw new CreditNoteError(
      field,
      `${field} must be a decimal string such as "10.00", not ${JSON.stringify(value)}.`,
    );
  }
  const d = new Decimal(value);
  if (d.decimalPlaces() > minorUnits(currency)) {
    throw new CreditNoteError(
      field,
      `${field} has more decimals than ${currency} has (${minorUnits(currency)}).`,
    );
  }
  return d;
}

type PlannedLines = Pick<PlannedCreditNote, 'lines'> & { subtotal: Decimal; tax: Decimal };

export function planCreditNote(
  invoice: CreditableInvoice,
  prior: PriorCredit,
  request: CreditNoteRequest,
): PlannedCreditNote {
  const { currency } = invoice;
  const fixed = (d: Decimal) => d.toFixed(minorUnits(currency));
  if (invoice.status !== 'paid' && invoice.status !== 'issued') {
    throw new CreditNoteError(
      'invoice',
      `Only issued or paid invoices take credit notes; this one is ${invoice.status}.`,
      'conflict',
    );
  }
  if ((request.lines === undefined) === (request.amount === undefined)) {
    throw new CreditNoteError('lines', 'Give either lines or amount (not both, not neither).');
  }
  const { lines, subtotal, tax } =
    request.amount !== undefined
      ? amountLine(invoice, request.amount, request.memo)
      : creditLines(invoice, prior, request.lines ?? []);
  const total = subtotal.add(tax);
  const creditable = new Decimal(invoice.total).sub(prior.creditedTotal);
  if (total.gt(creditable)) {
    throw new CreditNoteError(
      request.amount !== undefined ? 'amount' : 'lines',
      `The credit note's total ${fixed(total)} ${currency} is more than is left to credit on the invoice (${fixed(creditable)} ${currency}).`,
    );
  }
  const prePayment = prePaymentPart(invoice, total);
  const settled = settlement(currency, total, prePayment, prior, request);
  return {
    lines,
    subtotal: fixed(subtotal),
    tax: fixed(tax),
    total: fixed(total),
    prePaymentAmount: fixed(prePayment),
    refundAmount: fixed(settled.refund),
    creditAmount: fixed(settled.credit),
    outOfBandAmount: fixed(settled.outOfBand),
  };
}

/** One line for a total given with tax included: tax = round(amount × rate / (1 + rate)). */
function amountLine(invoice: CreditableInvoice, given: string, memo: string | undefined): PlannedLines {
  const { currency } = invoice;
  const rate = invoice.taxRate ? new Decimal(invoice.taxRate) : new Decimal(0);
  const amount = money(given, 'amount', currency) as Decimal;
  if (amount.lte(0)) throw new CreditNoteError('amount', 'amount must be more than 0.');
  const tax = rate.isZero() ? new Decimal(0) : roundMoney(amount.mul(rate).div(rate.add(1)), currency);
  const subtotal = amount.sub(tax);
  const line = {
    invoiceLinePosition: null,
    description: memo ?? 'Credit',
    quantity: null,
    amount: subtotal.toFixed(minorUnits(currency)),
  };
  return { lines: [line], subtotal, tax };
}

/** Lines before tax, each within what is left of the invoice line it credits; tax rounded once. */
function creditLines(
  invoice: CreditableInvoice,
  prior: PriorCredit,
  given: NonNullable<CreditNoteRequest['lines']>,
): PlannedLines {
  const { currency } = invoice;
  const fixed = (d: Decimal) => d.toFixed(minorUnits(currency));
  if (given.length === 0) throw new CreditNoteError('lines', 'lines must have at least one line.');
  const taken = new Map<number, Decimal>();
  const lines = given.map((line, i) => {
    const field = `lines[${i}].amount`;
    const amount = money(line.amount, field, currency) as Decimal;
    if (amount.lte(0)) throw new CreditNoteError(field, `${field} must be more than 0.`);
    if (line.invoiceLine === undefined) {
      if (!line.description?.trim()) {
        throw new CreditNoteError(
          `lines[${i}].description`,
          'A line not tied to an invoice line needs a description.',
        );
      }
      return {
        invoiceLinePosition: null,
        description: line.description,
        quantity: line.quantity ?? null,
        amount: fixed(amount),
      };
    }
    const target = invoice.lines.find((l) => l.position === line.invoiceLine);
    if (!target || new Decimal(target.amount).lte(0)) {
      throw new CreditNoteError(
        `lines[${i}].invoiceLine`,
        `The invoice has no chargeable line ${line.invoiceLine}.`,
      );
    }
    const already = new Decimal(prior.creditedByLine.get(target.position) ?? 0).add(
      taken.get(target.position) ?? 0,
    );
    const left = new Decimal(target.amount).sub(already);
    if (amount.gt(left)) {
      throw new CreditNoteError(
        field,
        `${field} is more than is left to credit on line ${target.position} (${fixed(left)} ${currency}).`,
      );
    }
    taken.set(target.position, (taken.get(target.position) ?? new Decimal(0)).add(amount));
    return {
      invoiceLinePosition: target.position,
      description: line.description?.trim() || target.description,
      quantity: line.quantity ?? null,
      amount: fixed(amount),
    };
  });
  const subtotal = lines.reduce((sum, l) => sum.add(l.amount), new Decimal(0));
  const rate = invoice.taxRate ? new Decimal(invoice.taxRate) : new Decimal(0);
  return { lines, subtotal, tax: roundMoney(subtotal.mul(rate), currency) };
}

/** How the part not taken off the amount due is settled: refund + credit + out of band. */
function settlement(
  currency: string,
  total: Decimal,
  prePayment: Decimal,
  prior: PriorCredit,
  request: CreditNoteRequest,
): { refund: Decimal; credit: Decimal; outOfBand: Decimal } {
  const fixed = (d: Decimal) => d.toFixed(minorUnits(currency));
  const post = total.sub(prePayment);
  const refundable = Decimal.max(0, new Decimal(prior.paid).sub(prior.refunded));
  let refund = money(request.refundAmount, 'refundAmount', currency);
  let credit = money(request.creditAmount, 'creditAmount', currency);
  let outOfBand = money(request.outOfBandAmount, 'outOfBandAmount', currency);
  if (refund === undefined && credit === undefined && outOfBand === undefined) {
    refund = Decimal.min(post, refundable);
    credit = post.sub(refund);
    outOfBand = new Decimal(0);
  } else {
    refund ??= new Decimal(0);
    credit ??= new Decimal(0);
    outOfBand ??= post.sub(refund).sub(credit);
  }
  if (outOfBand.lt(0) || !refund.add(credit).add(outOfBand).eq(post)) {
    throw new CreditNoteError(
      'refundAmount',
      prePayment.isZero()
        ? `refundAmount + creditAmount + outOfBandAmount must equal the credit note's total, ${fixed(total)} ${currency}.`
        : `refundAmount + creditAmount + outOfBandAmount must equal ${fixed(post)} ${currency}: the credit note's total ${fixed(total)} less the ${fixed(prePayment)} it takes off the amount due.`,
    );
  }
  if (refund.gt(refundable)) {
    throw new CreditNoteError(
      'refundAmount',
      `refundAmount ${fixed(refund)} ${currency} is more than can be refunded (${fixed(refundable)} ${currency} paid and not refunded yet).`,
    );
  }
  return { refund, credit, outOfBand };
}

/** What a credit note of `total` takes off the amount due: on an issued invoice, up to all of it. */
export function prePaymentPart(
  invoice: Pick<CreditableInvoice, 'status' | 'amountDue'>,
  total: Decimal,
): Decimal {
  if (invoice.status !== 'issued') return new Decimal(0);
  return Decimal.max(0, Decimal.min(total, new Decimal(invoice.amountDue)));
}

/** Stripe's `type` of a credit note, from how its total was settled. */
export function creditNoteType(
  prePaymentAmount: string,
  total: string,
): 'pre_payment' | 'post_payment' | 'mixed' {
  const pre = new Decimal(prePaymentAmount);
  if (pre.isZero()) return 'post_payment';
  return pre.eq(total) ? 'pre_payment' : 'mixed';
}
