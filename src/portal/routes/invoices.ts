import { createRoute, z } from '@hono/zod-openapi';
import { PRIVATE_DOCUMENT_HEADERS } from '../../http/document-headers.ts';
import { problems } from '../../http/problem.ts';
import { json, type PortalApp, type PortalRouteContext, portalProblems } from './context.ts';
import { cardDeclined } from './errors.ts';
import { cardSchema, jsonBody, pathParam } from './schemas.ts';

/** The organisation's invoices: list, read, page and PDF, and paying an open one. */
const tags = ['Invoices'];

export function mountInvoiceRoutes(api: PortalApp, ctx: PortalRouteContext): void {
  const { sessionOf, ownerOf, billingPort, deps } = ctx;

  api.openapi(
    createRoute({
      method: 'get',
      path: '/invoices',
      tags,
      responses: { 200: json('OK'), ...portalProblems },
    }),
    async (c) => {
      const billing = deps.ports().billing;
      if (!billing) return c.json({ available: false, invoices: [] }, 200);
      return c.json({ available: true, invoices: await billing.listInvoices(sessionOf(c).customerId) }, 200);
    },
  );

  api.openapi(
    createRoute({
      method: 'get',
      path: '/invoices/{id}',
      tags,
      request: { params: pathParam('id') },
      responses: { 200: json('OK'), ...portalProblems },
    }),
    async (c) => {
      const invoice = await billingPort().getInvoice(sessionOf(c).customerId, c.req.param('id'));
      if (!invoice) throw problems.notFound('No such invoice.');
      return c.json({ invoice }, 200);
    },
  );

  api.openapi(
    createRoute({
      method: 'get',
      path: '/invoices/{id}/html',
      tags,
      request: { params: pathParam('id') },
      responses: {
        200: { description: 'The invoice page', content: { 'text/html': { schema: z.string() } } },
        ...portalProblems,
      },
    }),
    async (c) => {
      const html = await billingPort().invoiceHtml(sessionOf(c).customerId, c.req.param('id'));
      if (html === null) throw problems.notFound('No such invoice.');
      return c.html(html, 200, PRIVATE_DOCUMENT_HEADERS);
    },
  );

  api.openapi(
    createRoute({
      method: 'get',
      path: '/invoices/{id}/pdf',
      tags,
      request: { params: pathParam('id') },
      responses: {
        200: { description: 'The invoice PDF', content: { 'application/pdf': { schema: z.string() } } },
        ...portalProblems,
      },
    }),
    async (c) => {
      const file = await billingPort().invoicePdf(sessionOf(c).customerId, c.req.param('id'));
      if (file === null) throw problems.notFound('No such invoice.');
      return c.body(file.pdf as Uint8Array<ArrayBuffer>, 200, {
        ...PRIVATE_DOCUMENT_HEADERS,
        'content-type': 'application/pdf',
        'content-disposition': `attachment; filename="${file.filename}"`,
      });
    },
  );

  api.openapi(
    createRoute({
      method: 'post',
      path: '/invoices/{id}/pay',
      tags,
      request: { body: jsonBody(z.strictObject({ card: cardSchema.optional() })), params: pathParam('id') },
      responses: { 200: json('OK'), ...portalProblems },
    }),
    async (c) => {
      const customerId = ownerOf(c);
      const input = c.req.valid('json');
      const invoice = await billingPort().getInvoice(customerId, c.req.param('id'));
      if (!invoice) throw problems.notFound('No such invoice.');
      if (invoice.status !== 'open') throw problems.conflict(`This invoice is ${invoice.status}, not open.`);
      const result = await billingPort().payInvoice(customerId, invoice.id, input.card);
      if (result.status === 'declined') {
        throw cardDeclined(result.message);
      }
      return c.json(result, 200);
    },
  );
}
