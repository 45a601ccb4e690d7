import type { ResolvedConfig } from '../../config/index.ts';
import { renderInvoiceHtml } from '../html.ts';
import type { BillingCustomer, Invoice } from '../model.ts';
import { type InvoiceAdjustments, type InvoiceDocumentContext, renderInvoicePdf } from './pdf.ts';
import type { InvoiceDocuments } from './routes.ts';

export { displayDate, displayMoney, displayPeriod } from './format.ts';
export {
  createInvoiceLinks,
  INVOICE_LINK_TTL_SECONDS,
  type InvoiceDocumentFormat,
  type InvoiceLinks,
} from './links.ts';
export { type InvoiceAdjustments, type InvoiceDocumentContext, renderInvoicePdf } from './pdf.ts';
export { type InvoiceDocuments, mountInvoiceDocumentRoutes } from './routes.ts';

/** The seller (branding) and the customer an invoice document names. */
export function documentContext(
  config: ResolvedConfig,
  invoice: Invoice,
  customer: BillingCustomer | null,
): InvoiceDocumentContext {
  return {
    sellerName: config.portal.branding.name ?? config.name,
    customerName: customer?.name ?? invoice.customerId,
    customerEmail: customer?.email ?? null,
    primaryColor: config.portal.branding.primaryColor,
  };
}

/** An invoice's HTML page and PDF, with its customer and what changed it after issue. */
export function createInvoiceDocuments(deps: {
  config: () => ResolvedConfig;
  customer(customerId: string): Promise<BillingCustomer | null>;
  adjustments?(invoiceId: string): Promise<InvoiceAdjustments>;
}): InvoiceDocuments {
  const context = async (invoice: Invoice) =>
    documentContext(deps.config(), invoice, await deps.customer(invoice.customerId));
  return {
    async html(invoice) {
      return renderInvoiceHtml(invoice, await context(invoice));
    },
    async pdf(invoice) {
      const adjustments = deps.adjustments ? await deps.adjustments(invoice.id) : undefined;
      return renderInvoicePdf(invoice, await context(invoice), adjustments);
    },
  };
}
