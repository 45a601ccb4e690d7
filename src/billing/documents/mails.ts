import type { Logger } from '../../util/log.ts';
import { Decimal } from '../../util/money.ts';
import type { SubscriptionPort } from '../model.ts';
import { displayDate, displayMoney, displayPeriod } from './format.ts';
import type { InvoiceDocumentFormat } from './links.ts';

/**
 * The mails a customer gets about documents: the invoice when it is issued (with signed links
 * to its PDF and page, which open without a portal login for 7 days) and a receipt when a
 * payment settles it. Best effort, like every billing mail: a mail that cannot be sent is
 * logged and never fails billing. Without a mailer (benchmarks, some tests) nothing is looked up.
 */
export interface InvoiceMailFacts {
  id: string;
  number: string | null;
  customerId: string;
  status: string;
  currency: string;
  total: string;
  amountDue: string;
  periodFrom: string;
  periodTo: string;
  creditsApplied?: string;
  dueAt?: string | null;
}

export interface DocumentMails {
  invoiceIssued(invoice: InvoiceMailFacts, charged: boolean): Promise<void>;
  paymentReceipt(invoice: InvoiceMailFacts, paidAt: Date): Promise<void>;
}

export function createDocumentMails(deps: {
  mail?: { send(message: { to: string; subject: string; text: string }): Promise<void> };
  subscriptions: Pick<SubscriptionPort, 'customer'>;
  log: Logger;
  sellerName: () => string;
  /** Absolute signed URL of an invoice document; absent: mails carry no document links. */
  documentLink?: (invoiceId: string, format: InvoiceDocumentFormat) => string;
  portalInvoicesUrl?: () => string;
}): DocumentMails {
  const { mail, log } = deps;

  async function send(
    customerId: string,
    subject: (name: string) => string,
    body: (name: string) => string[],
  ) {
    if (!mail) return;
    try {
      const customer = await deps.subscriptions.customer(customerId);
      if (!customer?.email) return;
      await mail.send({
        to: customer.email,
        subject: subject(customer.name),
        text: `${body(customer.name).join('\n')}\n`,
      });
    } catch (error) {
      log.warn({ err: error, customerId }, 'invoice mail failed');
    }
  }

  const links = (invoiceId: string): string[] => {
    const out: string[] = [];
    if (deps.documentLink) {
      out.push(`Download the PDF: ${deps.documentLink(invoiceId, 'pdf')}`);
      out.push(`View it online: ${deps.documentLink(invoiceId, 'html')}`);
      out.push('(These links work for 7 days; your invoices are always in the portal.)');
    }
    if (deps.portalInvoicesUrl) out.push(`Your invoices: ${deps.portalInvoicesUrl()}`);
    return out;
  };

  return {
    async invoiceIssued(invoice, charged) {
      const money = (v: string) => displayMoney(v, invoice.currency);
      const number = invoice.number ?? invoice.id;
      const due = new Decimal(invoice.amountDue);
      const credits = new Decimal(invoice.creditsApplied ?? 0);
      await send(
        invoice.customerId,
        () => `Invoice ${number} from ${deps.sellerName()}: ${money(invoice.total)}`,
        (name) => [
          `Hello ${name},`,
          '',
          `Invoice ${number} for ${displayPeriod(invoice.periodFrom, invoice.periodTo)} is ready: ${money(invoice.total)}.`,
          ...(credits.gt(0) ? [`Prepaid credits applied: ${money(credits.toString())}.`] : []),
          due.lte(0) || invoice.status === 'paid'
            ? 'Nothing is left to pay.'
            : charged
              ? `We are charging ${money(invoice.amountDue)} to your payment method on file; a receipt follows.`
              : `Amount due: ${money(invoice.amountDue)}${invoice.dueAt ? `, by ${displayDate(invoice.dueAt)}` : ''}.`,
          '',
          ...links(invoice.id),
        ],
      );
    },
    async paymentReceipt(invoice, paidAt) {
      if (new Decimal(invoice.amountDue).lte(0)) return; // nothing was paid: the invoice mail said so
      const money = (v: string) => displayMoney(v, invoice.currency);
      const number = invoice.number ?? invoice.id;
      await send(
        invoice.customerId,
        () => `Receipt for invoice ${number}: ${money(invoice.amountDue)} paid`,
        (name) => [
          `Hello ${name},`,
          '',
          `Thank you: we received ${money(invoice.amountDue)} for invoice ${number} on ${displayDate(paidAt)}.`,
          `Period: ${displayPeriod(invoice.periodFrom, invoice.periodTo)}. Invoice total: ${money(invoice.total)}.`,
          '',
          ...links(invoice.id),
        ],
      );
    },
  };
}
