import { Decimal } from '../../util/money.ts';
import { displayMoney } from '../documents/format.ts';
import type { CreditNote } from './model.ts';

/** The mail a customer gets for a credit note: its total and where each part of it went. */
export function creditNoteMail(note: CreditNote): { subject: string; text: string } {
  const money = (v: string) => displayMoney(v, note.currency);
  const invoice = note.invoiceNumber ?? note.invoiceId;
  const part = (amount: string, text: string) =>
    new Decimal(amount).gt(0) ? `${text}: ${money(amount)}.` : '';
  return {
    subject: `Credit note ${note.number} for invoice ${invoice}`,
    text: [
      `We issued credit note ${note.number} of ${money(note.total)} for invoice ${invoice}.`,
      part(note.prePaymentAmount, 'Taken off the amount due on the invoice'),
      part(note.refundAmount, 'Refunded to your payment method'),
      part(note.creditAmount, 'Added to your account credit'),
      part(note.outOfBandAmount, 'Settled separately'),
      note.memo ? `\n${note.memo}` : '',
    ]
      .filter(Boolean)
      .join('\n'),
  };
}
