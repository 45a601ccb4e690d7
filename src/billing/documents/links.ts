import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Signed links to one invoice document (`/invoices/<id>.html` or `.pdf`), for customers who open
 * an invoice from an e-mail and for operators who share one: `?expires=<unix seconds>&signature=`
 * with an HMAC-SHA256 over the path and the expiry. The key is derived from the admin token under
 * a label of its own, so a link never carries the token (which used to travel as `?token=` and
 * ended up in access logs, browser history and Referer headers) and rotating the token revokes
 * every link. A link opens that invoice's document only, and only until it expires.
 */
export const INVOICE_LINK_TTL_SECONDS = 7 * 24 * 3600;

export type InvoiceDocumentFormat = 'html' | 'pdf';

export interface InvoiceLinks {
  /** Path and query (`/invoices/inv_…​.pdf?expires=…&signature=…`), relative to the console. */
  sign(
    invoiceId: string,
    format: InvoiceDocumentFormat,
    options?: { now?: Date; ttlSeconds?: number },
  ): string;
  /** True when `signature` was made by `sign` for this invoice and format, and has not expired. */
  verify(
    invoiceId: string,
    format: InvoiceDocumentFormat,
    expires: string | undefined,
    signature: string | undefined,
    now?: Date,
  ): boolean;
}

export function createInvoiceLinks(adminToken: string): InvoiceLinks {
  const key = createHmac('sha256', adminToken).update('tollgate invoice document links v1').digest();
  const mac = (path: string, expires: string) =>
    createHmac('sha256', key).update(`${path}\n${expires}`).digest('base64url');
  const pathOf = (invoiceId: string, format: InvoiceDocumentFormat) =>
    `/invoices/${encodeURIComponent(invoiceId)}.${format}`;

  return {
    sign(invoiceId, format, options = {}) {
      const now = options.now ?? new Date();
      const ttl = options.ttlSeconds ?? INVOICE_LINK_TTL_SECONDS;
      const expires = String(Math.floor(now.getTime() / 1000) + ttl);
      const path = pathOf(invoiceId, format);
      return `${path}?expires=${expires}&signature=${mac(path, expires)}`;
    },
    verify(invoiceId, format, expires, signature, now = new Date()) {
      if (!expires || !signature || !/^\d{1,12}$/.test(expires)) return false;
      if (Number(expires) * 1000 <= now.getTime()) return false;
      const expected = Buffer.from(mac(pathOf(invoiceId, format), expires));
      const presented = Buffer.from(signature);
      return presented.length === expected.length && timingSafeEqual(presented, expected);
    },
  };
}
