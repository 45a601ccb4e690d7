import { OpenAPIHono } from '@hono/zod-openapi';
import type { Hono } from 'hono';
import { requireAdmin } from '../admin/auth.ts';
import type { ResolvedConfig } from '../config/index.ts';
import { problems } from '../http/problem.ts';
import { validationHook } from '../http/validation.ts';
import { creditNoteRoutes } from './credit-notes/routes.ts';
import { discountRoutes } from './discounts/routes.ts';
import { createInvoiceLinks, mountInvoiceDocumentRoutes } from './documents/index.ts';
import type { SubscriptionPort } from './model.ts';
import { mountCreditRoutes } from './routes/credits.ts';
import { mountInvoiceRoutes } from './routes/invoices.ts';
import { mountBillingRunRoutes } from './routes/runs.ts';
import type { BillingService } from './service.ts';

/**
 * Billing's HTTP surface:
 * - admin routes (`billingAdminApi`), one file per resource under `routes/`, written with
 *   `createRoute` so the admin API's OpenAPI document lists them: invoices, credits, billing
 *   runs, the credit notes and refunds of `credit-notes/routes.ts` and the coupons and discounts
 *   of `discounts/routes.ts`. The admin API they are
 *   mounted into checks the token;
 * - public routes (`mountBillingPublicRoutes`): `/invoices/:id.html|pdf` (admin token in the
 *   header, or a signed link; `documents/routes.ts`) and `/api/billing/webhooks/:rail` (verified
 *   by the rail's signature).
 */
export interface BillingRouteDeps {
  billing: BillingService;
  subscriptions: SubscriptionPort;
  adminToken: string;
  config: ResolvedConfig;
}

/** Billing's routes under `/api/admin` (paths relative to it). */
export function billingAdminApi(deps: BillingRouteDeps): OpenAPIHono {
  const app = new OpenAPIHono({ defaultHook: validationHook });
  mountInvoiceRoutes(app, deps.billing, createInvoiceLinks(deps.adminToken));
  mountBillingRunRoutes(app, deps.billing);
  mountCreditRoutes(app, deps.billing);
  app.route(
    '/',
    creditNoteRoutes({
      adminToken: deps.adminToken,
      creditNotes: deps.billing.creditNotes,
      refund: async (invoiceId, amount) => {
        const refund = await deps.billing.refundInvoice(invoiceId, amount);
        return { ...refund, purpose: 'refund' as const };
      },
    }),
  );
  app.route(
    '/',
    discountRoutes({
      adminToken: deps.adminToken,
      discounts: deps.billing.discounts,
      async currencyOf(customerId, subscriptionId) {
        const subs = await deps.subscriptions.listForCustomer(customerId);
        const sub = subs.find((s) => (subscriptionId ? s.id === subscriptionId : s.status !== 'canceled'));
        return sub?.currency ?? null;
      },
    }),
  );
  return app;
}

export function mountBillingPublicRoutes(app: Hono, deps: BillingRouteDeps): void {
  const { billing, adminToken } = deps;
  mountInvoiceDocumentRoutes(app, {
    adminToken,
    links: createInvoiceLinks(adminToken),
    load: (invoiceId) => billing.mustGet(invoiceId),
    documents: billing.documents,
  });

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
}

/**
 * Everything billing serves, on a console app of its own (tests that run billing without the
 * admin API): the admin routes under `/api/admin` behind the admin token, and the public routes.
 */
export function mountBillingRoutes(app: Hono, deps: BillingRouteDeps): void {
  const admin = new OpenAPIHono({ defaultHook: validationHook });
  admin.use('*', requireAdmin(deps.adminToken));
  admin.route('/', billingAdminApi(deps));
  app.route('/api/admin', admin);
  mountBillingPublicRoutes(app, deps);
}
