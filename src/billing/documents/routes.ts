import { timingSafeEqual } from 'node:crypto';
import type { Context, Hono } from 'hono';
import { PRIVATE_DOCUMENT_HEADERS } from '../../http/document-headers.ts';
import { problems } from '../../http/problem.ts';
import type { Invoice } from '../model.ts';
import type { InvoiceDocumentFormat, InvoiceLinks } from './links.ts';

/**
 * `GET /invoices/<id>.html` and `GET /invoices/<id>.pdf` on the console: an invoice's printable
 * page and its PDF, for whoever holds either
 * - the admin token in `Authorization: Bearer …` (never in the query string: a `?token=` is
 *   refused even when right, since URLs are written to access logs, browser history and Referer
 *   headers), or
 * - a signed link for that invoice and format that has not expired (`links.ts`), as mailed to the
 *   customer.
 * Customers in the portal open their invoices through their session at
 * `/api/portal/invoices/<id>/html|pdf` instead.
 */
export interface InvoiceDocuments {
  html(invoice: Invoice): Promise<string>;
  pdf(invoice: Invoice): Promise<Uint8Array>;
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length > 0 && x.length === y.length && timingSafeEqual(x, y);
}

export function mountInvoiceDocumentRoutes(
  app: Hono,
  deps: {
    adminToken: string;
    links: InvoiceLinks;
    load(invoiceId: string): Promise<Invoice>;
    documents: InvoiceDocuments;
  },
): void {
  const authorize = (c: Context, invoiceId: string, format: InvoiceDocumentFormat) => {
    if (c.req.query('token') !== undefined) {
      throw problems.unauthorized(
        'The admin token is accepted only in the Authorization header (Bearer), never in the URL. Customers open invoices through the portal or a signed link.',
      );
    }
    const header = c.req.header('authorization') ?? '';
    if (header.startsWith('Bearer ') && sameSecret(header.slice(7).trim(), deps.adminToken)) return;
    if (deps.links.verify(invoiceId, format, c.req.query('expires'), c.req.query('signature'))) return;
    throw problems.unauthorized(
      'Send the admin token as Authorization: Bearer <token>, or open a signed link that has not expired.',
    );
  };

  app.get('/invoices/:file', async (c, next) => {
    const match = /^(.+)\.(html|pdf)$/.exec(c.req.param('file'));
    // `/invoices/<id>` is the portal's own page (client-side route): the SPA serves it.
    if (!match) return next();
    const [, invoiceId, format] = match as unknown as [string, string, InvoiceDocumentFormat];
    authorize(c, invoiceId, format);
    const invoice = await deps.load(invoiceId);
    if (format === 'html') {
      return c.html(await deps.documents.html(invoice), 200, PRIVATE_DOCUMENT_HEADERS);
    }
    const pdf = await deps.documents.pdf(invoice);
    return c.body(pdf as Uint8Array<ArrayBuffer>, 200, {
      ...PRIVATE_DOCUMENT_HEADERS,
      'content-type': 'application/pdf',
      'content-disposition': `inline; filename="${invoice.number ?? invoice.id}.pdf"`,
    });
  });
}
