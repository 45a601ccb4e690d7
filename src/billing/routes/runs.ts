import { createRoute, type OpenAPIHono, z } from '@hono/zod-openapi';
import { ok, pathParam, problemResponses } from '../../http/openapi.ts';
import type { BillingService } from '../service.ts';
import { UpcomingSchema, upcomingOut } from './schemas.ts';

/** `/api/admin/billing/…`: the upcoming invoice of a subscription, and running billing or dunning now. */
const tags = ['Billing'];

const RunSummary = z
  .object({
    subscriptions: z.number().int(),
    invoicesCreated: z.number().int(),
    alreadyInvoiced: z.number().int(),
    charged: z.number().int(),
    failed: z.number().int(),
    locked: z
      .boolean()
      .openapi({ description: 'Another process holds the billing run; nothing was done here' }),
  })
  .openapi('BillingRunSummary');

const DunningSummary = z
  .object({ retried: z.number().int(), overdue: z.number().int(), suspended: z.number().int() })
  .openapi('DunningSummary');

export function mountBillingRunRoutes(app: OpenAPIHono, billing: BillingService): void {
  app.openapi(
    createRoute({
      method: 'get',
      path: '/billing/subscriptions/{id}/upcoming',
      tags,
      summary: 'Cost to date of the current period and a forecast to its end',
      request: { params: pathParam('id') },
      responses: { 200: ok(UpcomingSchema, 'The upcoming invoice'), ...problemResponses(401, 404) },
    }),
    async (c) => c.json(upcomingOut(await billing.upcoming(c.req.valid('param').id)), 200),
  );
  app.openapi(
    createRoute({
      method: 'post',
      path: '/billing/run',
      tags,
      summary: 'Bill every subscription whose period has ended (idempotent)',
      responses: { 200: ok(RunSummary, 'What the run did'), ...problemResponses(401) },
    }),
    async (c) => c.json(await billing.runBilling(), 200),
  );
  app.openapi(
    createRoute({
      method: 'post',
      path: '/billing/dunning',
      tags,
      summary: 'Retry due payments and suspend overdue subscriptions now',
      responses: { 200: ok(DunningSummary, 'What dunning did'), ...problemResponses(401) },
    }),
    async (c) => c.json(await billing.runDunning(), 200),
  );
}
