import type { Invoice } from '../../billing/index.ts';
import type { InvoiceSummary, MoneyLine } from '../dependencies.ts';

/** How invoices, their lines and payment errors read in the portal. */
/**
 * An invoice's `lastPaymentError` is `code: message` (e.g. `card_declined: Your card was
 * declined.`) for operators; the customer reads the message alone.
 */
export function customerMessage(lastPaymentError: string): string {
  return lastPaymentError.replace(/^[a-z][a-z0-9_]*:\s*/, '') || lastPaymentError;
}

export function invoiceSummary(invoice: Invoice): InvoiceSummary {
  const status = invoice.status === 'issued' ? 'open' : invoice.status;
  return {
    id: invoice.id,
    number: invoice.number ?? invoice.id,
    status,
    currency: invoice.currency,
    total: invoice.total,
    periodFrom: invoice.periodFrom,
    periodTo: invoice.periodTo,
    issuedAt: invoice.issuedAt,
    dueAt: invoice.dueAt,
    paidAt: invoice.paidAt,
  };
}

export function lineOf(
  line: { description: string; amount: string; quantity: string; kind: string; featureKey: string | null },
  featureNames: Map<string, string> = new Map(),
): MoneyLine {
  // Usage lines of rate cards without a name carry the bare key; show the feature's name instead.
  const named =
    line.featureKey && line.description === line.featureKey ? featureNames.get(line.featureKey) : undefined;
  return {
    description: named ?? line.description,
    amount: line.amount,
    quantity: line.quantity,
    kind: line.kind === 'usage' || line.kind === 'minimum_spend' ? 'usage' : 'flat',
  };
}
