import { type BillingService, type Invoice, type PaymentRail, SANDBOX_CARDS } from '../../billing/index.ts';
import { problems } from '../../http/problem.ts';
import { Decimal, formatMoney } from '../../util/money.ts';
import type { BillingPort, MoneyLine } from '../dependencies.ts';
import { type BillingAdapterDeps, portalRail } from './billing-adapter-deps.ts';
import { customerMessage, invoiceSummary, lineOf } from './invoice-views.ts';

/** Sandbox: the outcome of a test card before anything is created, so a decline changes nothing. */
function sandboxDecline(billing: BillingService, card: string): string | null {
  const r = billing.rail as PaymentRail & {
    cardOutcome?: (pm: string) => { code: string | null; message: string };
  };
  if (r.name !== 'sandbox' || !r.cardOutcome) return null;
  const digits = card.replace(/[\s-]/g, '');
  if (!SANDBOX_CARDS[digits]) return null; // the rail explains which test cards exist
  const outcome = r.cardOutcome(`pm_sbx_${digits}_check`);
  return outcome.code ? outcome.message : null;
}

/**
 * A customer's invoices: the upcoming one, the list, one with its payments, documents, paying.
 * A module factory, the codebase's module shape: one closure over the billing deps holding the six
 * operations the portal's pages call, each a short method.
 */
export function invoicesPort(
  deps: BillingAdapterDeps,
): Pick<
  BillingPort,
  'upcoming' | 'listInvoices' | 'getInvoice' | 'invoiceHtml' | 'invoicePdf' | 'payInvoice'
> {
  const { billing, subscriptions, catalog } = deps;

  const featureNames = async () => new Map((await catalog.listFeatures()).map((f) => [f.key, f.name]));

  async function own(customerId: string, invoiceId: string): Promise<Invoice | null> {
    const invoice = await billing.get(invoiceId);
    return invoice && invoice.customerId === customerId ? invoice : null;
  }

  return {
    async upcoming(customerId) {
      const sub = await subscriptions.currentForCustomer(customerId);
      if (!sub || sub.customerId !== customerId || sub.status === 'canceled') return null;
      const [up, names, invoices] = await Promise.all([
        billing.upcoming(sub.id),
        featureNames(),
        billing.list({ customerId, subscriptionId: sub.id, limit: 100 }),
      ]);
      // Cost to date includes what this period already invoiced (e.g. the in-advance fee at checkout).
      const invoiced = invoices.filter(
        (i) =>
          i.customerId === customerId &&
          new Date(i.periodFrom).getTime() === new Date(up.periodFrom).getTime() &&
          (i.status === 'issued' || i.status === 'paid'),
      );
      const lines: MoneyLine[] = [
        ...invoiced.map((i) => ({
          description: `Invoiced (${i.number ?? i.id})`,
          amount: i.subtotal,
          kind: 'flat' as const,
        })),
        ...up.costToDate.lines.map((l) => lineOf(l, names)),
      ];
      const total = lines.reduce((sum, l) => sum.plus(l.amount), new Decimal(0));
      // Billing's forecast rates the extrapolated usage (tiers included), so it is used as is.
      const already = invoiced.reduce((sum, i) => sum.plus(i.subtotal), new Decimal(0));
      const forecast = up.forecast.lines.reduce((sum, l) => sum.plus(l.amount), already);
      return {
        currency: up.currency,
        total: formatMoney(total, up.currency),
        forecast: formatMoney(forecast, up.currency),
        lines,
        periodFrom: up.periodFrom,
        periodTo: up.periodTo,
      };
    },
    async listInvoices(customerId) {
      const invoices = await billing.list({ customerId, limit: 100 });
      // A checkout undone by a declined first charge leaves a void invoice the customer never owed.
      const undoneCheckout = (i: Invoice) =>
        i.status === 'void' && i.metadata.first === true && i.lastPaymentError !== null;
      return invoices
        .filter((i) => i.customerId === customerId && i.status !== 'draft' && !undoneCheckout(i))
        .map(invoiceSummary);
    },
    async getInvoice(customerId, invoiceId) {
      const invoice = await own(customerId, invoiceId);
      if (!invoice || invoice.status === 'draft') return null;
      const names = await featureNames();
      return {
        ...invoiceSummary(invoice),
        subtotal: invoice.subtotal,
        tax: invoice.tax,
        lines: invoice.lines.map((l) => lineOf(l, names)),
        paymentUrl: invoice.paymentUrl,
        payments: (await billing.payments(invoice.id))
          .filter((p) => p.purpose === 'invoice' || p.purpose === 'refund')
          .map((p) => ({
            id: p.id,
            kind: p.purpose === 'refund' ? ('refund' as const) : ('payment' as const),
            status: p.status === 'succeeded' || p.status === 'failed' ? p.status : ('pending' as const),
            amount: formatMoney(p.amount, p.currency),
            currency: p.currency,
            createdAt: new Date(p.created_at).toISOString(),
          })),
        amountDue: invoice.status === 'paid' ? formatMoney(0, invoice.currency) : invoice.amountDue,
        creditNotes: (await billing.creditNotes.list({ invoiceId: invoice.id })).map((n) => ({
          id: n.id,
          number: n.number,
          status: n.status,
          prePaymentAmount: n.prePaymentAmount,
          voidedAt: n.voidedAt,
          reason: n.reason,
          memo: n.memo,
          total: n.total,
          tax: n.tax,
          refundAmount: n.refundAmount,
          creditAmount: n.creditAmount,
          outOfBandAmount: n.outOfBandAmount,
          currency: n.currency,
          issuedAt: n.issuedAt,
          lines: n.lines.map((l) => ({ description: l.description, amount: l.amount })),
        })),
      };
    },
    async invoiceHtml(customerId, invoiceId) {
      const invoice = await own(customerId, invoiceId);
      if (!invoice || invoice.status === 'draft') return null;
      return billing.documents.html(invoice);
    },
    async invoicePdf(customerId, invoiceId) {
      const invoice = await own(customerId, invoiceId);
      if (!invoice || invoice.status === 'draft') return null;
      return { filename: `${invoice.number ?? invoice.id}.pdf`, pdf: await billing.documents.pdf(invoice) };
    },
    async payInvoice(customerId, invoiceId, card) {
      const invoice = await own(customerId, invoiceId);
      if (!invoice) throw problems.notFound('No such invoice.');
      // Its charge waits on the customer (Paddle): pay through that link, never a second charge.
      if (invoice.paymentUrl) return { status: 'redirect', url: invoice.paymentUrl };
      const attemptsBefore = invoice.paymentAttempts;
      // Read per payment, not at start: a config reload may have switched the rail.
      const rail = portalRail(deps.config);
      if (rail === 'sandbox' && card) {
        const declined = sandboxDecline(billing, card.number);
        if (declined) return { status: 'declined', message: declined };
        // Saving the card retries every open invoice of the customer at once.
        await billing.attachCard(customerId, card.number);
      } else if (rail === 'stripe') {
        const result = await billing.startCheckout(customerId, null, {});
        if (result.url) return { status: 'redirect', url: result.url };
      }
      let after = await billing.get(invoiceId);
      if (after?.status === 'issued' && after.paymentAttempts === attemptsBefore)
        await billing.collect(invoiceId);
      // The sandbox confirms charges by webhook a tick later, as a provider would.
      const sandbox = billing.rail as PaymentRail & { drain?: () => Promise<void> };
      await sandbox.drain?.();
      after = await billing.get(invoiceId);
      if (after?.status === 'paid') return { status: 'paid' };
      if (after?.paymentUrl) return { status: 'redirect', url: after.paymentUrl };
      return {
        status: 'declined',
        message: after?.lastPaymentError
          ? customerMessage(after.lastPaymentError)
          : 'The payment did not go through.',
      };
    },
  };
}
