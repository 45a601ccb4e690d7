import { createRoute, type OpenAPIHono, z } from '@hono/zod-openapi';
import { jsonBody, ok, pathParam, problemResponses } from '../../http/openapi.ts';
import { INVOICE_LINK_TTL_SECONDS, type InvoiceLinks } from '../documents/index.ts';
import type { BillingService } from '../service.ts';
import {
  Currency,
  INVOICE_STATUSES,
  InvoiceSchema,
  invoiceOut,
  Money,
  PaymentSchema,
  paymentOut,
} from './schemas.ts';

/** `/api/admin/invoices`: list, create, read, issue, void, mark paid/uncollectible, links (refunds: credit-notes/routes.ts). */
const tags = ['Invoices'];
const IdParam = pathParam('id');

const InvoiceCreate = z
  .strictObject({
    customerId: z.string().min(1),
    currency: Currency,
    lines: z
      .array(z.strictObject({ description: z.string().min(1), quantity: Money.optional(), unitPrice: Money }))
      .min(1),
    issue: z.boolean().optional().openapi({ description: 'Issue it at once (default: a draft)' }),
  })
  .openapi('InvoiceCreate');

const DocumentLinks = z
  .object({ html: z.string(), pdf: z.string(), expiresAt: z.string() })
  .openapi('InvoiceDocumentLinks');

/** A state change on one invoice (`POST /invoices/{id}/<action>`), all shaped alike. */
const ACTIONS = [
  ['issue', 'Issue a draft (numbers it and starts collection)', 'issue'],
  ['void', 'Void an invoice', 'void'],
  ['mark-paid', 'Mark paid outside the rail', 'markPaid'],
  ['mark-uncollectible', 'Mark uncollectible (stops dunning)', 'markUncollectible'],
] as const;

export function mountInvoiceRoutes(app: OpenAPIHono, billing: BillingService, links: InvoiceLinks): void {
  app.openapi(
    createRoute({
      method: 'get',
      path: '/invoices',
      tags,
      summary: 'List invoices',
      request: {
        query: z.object({
          customerId: z.string().optional(),
          subscriptionId: z.string().optional(),
          status: z.enum(INVOICE_STATUSES).optional(),
          limit: z.coerce.number().int().min(1).default(100),
          offset: z.coerce.number().int().min(0).default(0),
        }),
      },
      responses: {
        200: ok(z.object({ data: z.array(InvoiceSchema) }), 'Invoices, newest first'),
        ...problemResponses(400, 401),
      },
    }),
    async (c) => c.json({ data: (await billing.list(c.req.valid('query'))).map(invoiceOut) }, 200),
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/invoices',
      tags,
      summary: 'Create a manual invoice',
      request: { body: jsonBody(InvoiceCreate) },
      responses: { 201: ok(InvoiceSchema, 'The invoice'), ...problemResponses(400, 401, 404) },
    }),
    async (c) => c.json(invoiceOut(await billing.createManualInvoice(c.req.valid('json'))), 201),
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/invoices/{id}',
      tags,
      summary: 'Read an invoice with its lines',
      request: { params: IdParam },
      responses: { 200: ok(InvoiceSchema, 'The invoice'), ...problemResponses(401, 404) },
    }),
    async (c) => c.json(invoiceOut(await billing.mustGet(c.req.valid('param').id)), 200),
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/invoices/{id}/payments',
      tags,
      summary: "An invoice's payment attempts",
      request: { params: IdParam },
      responses: {
        200: ok(z.object({ data: z.array(PaymentSchema) }), 'Payment attempts, oldest first'),
        ...problemResponses(401, 404),
      },
    }),
    async (c) => c.json({ data: (await billing.payments(c.req.valid('param').id)).map(paymentOut) }, 200),
  );

  for (const [action, summary, method] of ACTIONS) {
    app.openapi(
      createRoute({
        method: 'post',
        path: `/invoices/{id}/${action}`,
        tags,
        summary,
        request: { params: IdParam },
        responses: {
          200: ok(InvoiceSchema, 'The invoice after the change'),
          ...problemResponses(401, 404, 409),
        },
      }),
      async (c) => c.json(invoiceOut(await billing[method](c.req.valid('param').id)), 200),
    );
  }

  // A signed link to an invoice's page and PDF, to hand to a customer (or open in a browser)
  // without putting the admin token in a URL.
  app.openapi(
    createRoute({
      method: 'post',
      path: '/invoices/{id}/document-links',
      tags,
      summary: "Signed, expiring links to the invoice's HTML page and PDF",
      request: { params: IdParam },
      responses: { 201: ok(DocumentLinks, 'The links'), ...problemResponses(401, 404) },
    }),
    async (c) => {
      const invoice = await billing.mustGet(c.req.valid('param').id);
      const now = new Date();
      return c.json(
        {
          html: links.sign(invoice.id, 'html', { now }),
          pdf: links.sign(invoice.id, 'pdf', { now }),
          expiresAt: new Date(now.getTime() + INVOICE_LINK_TTL_SECONDS * 1000).toISOString(),
        },
        201,
      );
    },
  );
}
