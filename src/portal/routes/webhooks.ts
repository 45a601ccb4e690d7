import { createRoute, z } from '@hono/zod-openapi';
import { problems } from '../../http/problem.ts';
import { json, type PortalApp, type PortalRouteContext, portalProblems } from './context.ts';
import { pathParam } from './schemas.ts';

/**
 * The organisation's own webhook endpoints (a budget alert's URL) and what was sent to them.
 * The notify module disables an endpoint that answers 410 Gone or keeps failing for days; the
 * customer sees that here, with the reason and the time, and can turn it back on, as Svix's
 * and Stripe's dashboards let an endpoint's owner do. Other organisations' ids answer 404.
 */
const tags = ['Webhooks'];

export function mountWebhookRoutes(api: PortalApp, ctx: PortalRouteContext): void {
  const { sessionOf, deps } = ctx;

  api.openapi(
    createRoute({
      method: 'get',
      path: '/webhook-endpoints',
      tags,
      responses: { 200: json('OK'), ...portalProblems },
    }),
    async (c) => {
      const webhooks = deps.ports().webhooks;
      if (!webhooks) return c.json({ endpoints: [] }, 200);
      const endpoints = await webhooks.listEndpoints({ customerId: sessionOf(c).customerId });
      return c.json(
        {
          endpoints: endpoints.map((e) => ({
            id: e.id,
            url: e.url,
            description: e.description,
            eventTypes: e.eventTypes,
            enabled: e.enabled,
            disabledReason: e.disabledReason,
            disabledAt: e.disabledAt,
            createdAt: e.createdAt,
          })),
        },
        200,
      );
    },
  );

  api.openapi(
    createRoute({
      method: 'post',
      path: '/webhook-endpoints/{id}/enable',
      tags,
      summary: 'Turn a disabled endpoint back on; deliveries still pending resume',
      request: { params: pathParam('id') },
      responses: { 200: json('OK'), ...portalProblems },
    }),
    async (c) => {
      const webhooks = deps.ports().webhooks;
      const customerId = sessionOf(c).customerId;
      const id = c.req.param('id');
      const owned = webhooks
        ? (await webhooks.listEndpoints({ customerId })).some((e) => e.id === id)
        : false;
      if (!webhooks || !owned) throw problems.notFound('No such webhook endpoint.');
      const endpoint = await webhooks.setEnabled(id, true);
      return c.json(
        { endpoint: { id: endpoint.id, enabled: endpoint.enabled, disabledReason: endpoint.disabledReason } },
        200,
      );
    },
  );

  // Deliveries to the organisation's own webhook URLs, newest first, with attempts.
  api.openapi(
    createRoute({
      method: 'get',
      path: '/webhook-deliveries',
      tags,
      request: { query: z.object({ before: z.string().optional() }) },
      responses: { 200: json('OK'), ...portalProblems },
    }),
    async (c) => {
      const webhooks = deps.ports().webhooks;
      if (!webhooks) return c.json({ deliveries: [], nextBefore: null }, 200);
      const before = c.req.query('before');
      const deliveries = await webhooks.deliveries({
        customerId: sessionOf(c).customerId,
        before,
        limit: 50,
      });
      const withAttempts = await Promise.all(
        deliveries.map(async (d) => ({ ...d, attemptLog: await webhooks.attempts(d.id) })),
      );
      return c.json(
        {
          deliveries: withAttempts,
          nextBefore: deliveries.length === 50 ? (deliveries.at(-1)?.id ?? null) : null,
        },
        200,
      );
    },
  );
}
