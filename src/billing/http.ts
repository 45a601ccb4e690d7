import type { OpenAPIHono } from '@hono/zod-openapi';
import type { Hono } from 'hono';
import { z } from 'zod';
import { requireAdmin } from '../admin/auth.ts';
import type { ResolvedConfig } from '../config/index.ts';
import { problems } from '../http/problem.ts';
import { sameSecret } from '../http/secrets.ts';
import { isMoneyString } from '../util/money.ts';
import { creditNoteRoutes } from './credit-notes/routes.ts';
import {
  createInvoiceDocuments,
  createInvoiceLinks,
  INVOICE_LINK_TTL_SECONDS,
  mountInvoiceDocumentRoutes,
} from './documents/index.ts';
import type { InvoiceStatus, SubscriptionPort } from './model.ts';
import type { BillingService } from './service.ts';

/**
 * Billing routes on the console listener (returns the credit-note routes, whose OpenAPI
 * definitions join the admin API's document):
 * - `/api/admin/invoices` list/detail/issue/void/mark-paid/mark-uncollectible (admin token),
 * - `/api/admin/credits/:customerId` balance, ledger, grant (admin token),
 * - `/api/admin/subscriptions/:id/upcoming-invoice` preview (admin token),
 * - `/invoices/:id.html|pdf` printable page and PDF (admin token in the header, or a signed link;
 *   `documents/routes.ts`),
 * - `/api/billing/webhooks/:rail` provider webhooks (verified by the rail's signature).
 */
const STATUSES = ['draft', 'issued', 'paid', 'void', 'uncollectible'] as const;

async function json<T>(c: { req: { json(): Promise<unknown> } }, schema: z.ZodType<T>): Promise<T> {
  let body: unknown;
  try {
    body = await c.req.json();
  } catch {
    throw problems.badRequest('The body must be JSON.');
  }
  const parsed = schema.safeParse(body);
  if (!parsed.success) {
    throw problems.validation(
      'The request body is invalid.',
      parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })),
    );
  }
  return parsed.data;
}

const money = z.string().refine(isMoneyString, 'must be a decimal string such as "10.00"');

export function mountBillingRoutes(
  app: Hono,
  deps: {
    billing: BillingService;
    subscriptions: SubscriptionPort;
    adminToken: string;
    config: ResolvedConfig;
  },
): OpenAPIHono {
  const { billing, adminToken, config } = deps;
  const admin = requireAdmin(adminToken);

  app.use('/api/admin/invoices', admin);
  app.use('/api/admin/invoices/*', admin);
  app.use('/api/admin/credits/*', admin);
  app.use('/api/admin/billing/*', admin);

  app.get('/api/admin/invoices', async (c) => {
    const status = c.req.query('status');
    if (status && !STATUSES.includes(status as InvoiceStatus)) {
      throw problems.badRequest(`status must be one of ${STATUSES.join(', ')}.`);
    }
    const limit = Number(c.req.query('limit') ?? 100);
    const offset = Number(c.req.query('offset') ?? 0);
    if (!Number.isInteger(limit) || limit < 1 || !Number.isInteger(offset) || offset < 0) {
      throw problems.badRequest('limit must be a positive integer and offset a non-negative integer.');
    }
    const invoices = await billing.list({
      customerId: c.req.query('customerId'),
      subscriptionId: c.req.query('subscriptionId'),
      status: status as InvoiceStatus | undefined,
      limit,
      offset,
    });
    return c.json({ data: invoices });
  });

  app.post('/api/admin/invoices', async (c) => {
    const body = await json(
      c,
      z.strictObject({
        customerId: z.string().min(1),
        currency: z.string().regex(/^[A-Z]{3}$/),
        lines: z
          .array(
            z.strictObject({ description: z.string().min(1), quantity: money.optional(), unitPrice: money }),
          )
          .min(1),
        issue: z.boolean().optional(),
      }),
    );
    return c.json(await billing.createManualInvoice(body), 201);
  });

  app.get('/api/admin/invoices/:id', async (c) => c.json(await billing.mustGet(c.req.param('id'))));
  app.get('/api/admin/invoices/:id/payments', async (c) =>
    c.json({ data: await billing.payments(c.req.param('id')) }),
  );
  app.post('/api/admin/invoices/:id/issue', async (c) => c.json(await billing.issue(c.req.param('id'))));
  app.post('/api/admin/invoices/:id/void', async (c) => c.json(await billing.void(c.req.param('id'))));
  app.post('/api/admin/invoices/:id/mark-paid', async (c) =>
    c.json(await billing.markPaid(c.req.param('id'))),
  );
  app.post('/api/admin/invoices/:id/mark-uncollectible', async (c) =>
    c.json(await billing.markUncollectible(c.req.param('id'))),
  );

  app.get('/api/admin/billing/subscriptions/:id/upcoming', async (c) =>
    c.json(await billing.upcoming(c.req.param('id'))),
  );
  app.post('/api/admin/billing/run', async (c) => c.json(await billing.runBilling()));
  app.post('/api/admin/billing/dunning', async (c) => c.json(await billing.runDunning()));

  app.get('/api/admin/credits/:customerId', async (c) => {
    const currency = c.req.query('currency') ?? 'USD';
    const customerId = c.req.param('customerId');
    return c.json({
      customerId,
      currency,
      balance: await billing.credits.balance(customerId, currency),
      settings: await billing.credits.settings(customerId, currency),
      ledger: await billing.credits.ledger(customerId, currency),
    });
  });
  app.post('/api/admin/credits/:customerId/grants', async (c) => {
    const body = await json(
      c,
      z.strictObject({
        amount: money,
        currency: z
          .string()
          .regex(/^[A-Z]{3}$/)
          .default('USD'),
        expiresAt: z.iso.datetime().optional(),
        note: z.string().optional(),
      }),
    );
    const entry = await billing.credits.grant({
      customerId: c.req.param('customerId'),
      currency: body.currency,
      amount: body.amount,
      expiresAt: body.expiresAt ? new Date(body.expiresAt) : null,
      note: body.note,
    });
    return c.json(entry, 201);
  });
  app.put('/api/admin/credits/:customerId/settings', async (c) => {
    const body = await json(
      c,
      z.strictObject({
        currency: z
          .string()
          .regex(/^[A-Z]{3}$/)
          .default('USD'),
        creditsOnly: z.boolean().optional(),
        autoRecharge: z.strictObject({ threshold: money, amount: money }).nullable().optional(),
      }),
    );
    await billing.credits.configure({ customerId: c.req.param('customerId'), ...body });
    return c.json(await billing.credits.settings(c.req.param('customerId'), body.currency));
  });

  const links = createInvoiceLinks(adminToken);
  // A signed link to an invoice's page and PDF, to hand to a customer (or open in a browser)
  // without putting the admin token in a URL.
  app.post('/api/admin/invoices/:id/document-links', async (c) => {
    const invoice = await billing.mustGet(c.req.param('id'));
    const now = new Date();
    return c.json(
      {
        html: links.sign(invoice.id, 'html', { now }),
        pdf: links.sign(invoice.id, 'pdf', { now }),
        expiresAt: new Date(now.getTime() + INVOICE_LINK_TTL_SECONDS * 1000).toISOString(),
      },
      201,
    );
  });
  mountInvoiceDocumentRoutes(app, {
    adminToken,
    links,
    load: (invoiceId) => billing.mustGet(invoiceId),
    documents: createInvoiceDocuments({
      config: () => config,
      customer: (customerId) => deps.subscriptions.customer(customerId),
      adjustments: (invoiceId) => billing.creditNotes.adjustments(invoiceId),
    }),
  });

  const creditNotes = creditNoteRoutes({
    adminToken,
    creditNotes: billing.creditNotes,
    refund: async (invoiceId, amount) => {
      const refund = await billing.refundInvoice(invoiceId, amount);
      return { ...refund, purpose: 'refund' as const };
    },
  });
  app.route('/api/admin', creditNotes);

  app.post('/api/billing/webhooks/:rail', async (c) => {
    if (c.req.param('rail') !== billing.rail.name) {
      throw problems.notFound(
        `The "${c.req.param('rail')}" rail is not configured (this installation uses "${billing.rail.name}").`,
      );
    }
    const raw = await c.req.text();
    const handled = await billing.handleWebhook(raw, c.req.raw.headers);
    return c.json({ received: true, events: handled });
  });
  return creditNotes;
}
