import { createRoute, z } from '@hono/zod-openapi';
import { problems } from '../../http/problem.ts';
import { newToken } from '../tokens.ts';
import { dt, json, type PortalApp, type PortalRouteContext, portalProblems } from './context.ts';
import { jsonBody, pathParam } from './schemas.ts';

/** Budget alerts, the hard spend cap, and the banners they raise. */
const tags = ['Alerts'];

export function mountAlertRoutes(api: PortalApp, ctx: PortalRouteContext): void {
  const { sessionOf, ownerOf, deps } = ctx;
  const { repo } = ctx.deps;

  api.openapi(
    createRoute({
      method: 'get',
      path: '/alerts',
      tags,
      responses: { 200: json('OK'), ...portalProblems },
    }),
    async (c) => {
      const customerId = sessionOf(c).customerId;
      const [alerts, cap] = await Promise.all([repo.alerts(customerId), repo.spendCap(customerId)]);
      return c.json(
        {
          alerts: alerts.map((a) => ({
            id: a.id,
            kind: a.kind,
            threshold: String(a.threshold),
            featureKey: a.feature_key,
            email: a.email,
            webhookUrl: a.webhook_url,
            createdAt: dt(a.created_at),
          })),
          spendCap: cap,
        },
        200,
      );
    },
  );

  api.openapi(
    createRoute({
      method: 'post',
      path: '/alerts',
      tags,
      request: {
        body: jsonBody(
          z.strictObject({
            kind: z.enum(['amount', 'quota_percent']),
            threshold: z.string().regex(/^\d+(\.\d{1,4})?$/, 'a positive decimal such as "50.00" or "80"'),
            featureKey: z.string().nullable().optional(),
            email: z.boolean().default(true),
            webhookUrl: z.url().nullable().optional(),
          }),
        ),
      },
      responses: { 201: json('Created'), ...portalProblems },
    }),
    async (c) => {
      const customerId = sessionOf(c).customerId;
      const input = c.req.valid('json');
      if (
        input.kind === 'quota_percent' &&
        (Number(input.threshold) <= 0 || Number(input.threshold) > 1000)
      ) {
        throw problems.validation('threshold: a percentage between 1 and 1000', [
          { path: 'threshold', message: 'a percentage between 1 and 1000' },
        ]);
      }
      const webhooks = deps.ports().webhooks;
      if (input.webhookUrl) {
        if (!webhooks) throw problems.badRequest('webhookUrl: webhooks are not available here.');
        // Refused before anything is stored: a customer must not aim the server at internal hosts.
        input.webhookUrl = await webhooks.checkUrl(input.webhookUrl, 'webhookUrl');
      }
      const id = `alr_${newToken().slice(0, 16)}`;
      // The alert's webhook is a customer endpoint in the notify module (signed, retried, logged);
      // its secret is shown once, in this response, and nothing is sent to it before that.
      const endpoint =
        input.webhookUrl && webhooks
          ? await webhooks.createEndpoint({
              url: input.webhookUrl,
              eventTypes: ['budget.alert'],
              customerId,
              source: `budget-alert:${id}`,
              description: `Budget alert ${id}`,
              secretShown: false,
            })
          : null;
      const webhookSecret = endpoint?.secret ?? null;
      await repo.insertAlert({
        id,
        customer_id: customerId,
        kind: input.kind,
        threshold: input.threshold,
        feature_key: input.featureKey ?? null,
        email: input.email,
        webhook_url: input.webhookUrl ?? null,
        webhook_secret: null,
      });
      await deps.budget.evaluate(customerId).catch(() => undefined);
      if (endpoint && webhooks) await webhooks.markSecretShown(endpoint.id);
      return c.json({ id, webhookSecret }, 201);
    },
  );

  api.openapi(
    createRoute({
      method: 'delete',
      path: '/alerts/{id}',
      tags,
      request: { params: pathParam('id') },
      responses: { 204: { description: 'Done' }, ...portalProblems },
    }),
    async (c) => {
      const customerId = sessionOf(c).customerId;
      const deleted = await repo.deleteAlert(customerId, c.req.param('id'));
      if (deleted.length === 0) throw problems.notFound('No such alert.');
      await deps.ports().webhooks?.deleteCustomerEndpoints(customerId, `budget-alert:${c.req.param('id')}`);
      return c.body(null, 204);
    },
  );

  api.openapi(
    createRoute({
      method: 'put',
      path: '/spend-cap',
      tags,
      request: {
        body: jsonBody(
          z.strictObject({
            amount: z
              .string()
              .regex(/^\d+(\.\d{1,2})?$/, 'a decimal amount such as "100.00"')
              .nullable(),
            currency: z
              .string()
              .regex(/^[A-Z]{3}$/)
              .default('USD'),
          }),
        ),
      },
      responses: { 200: json('OK'), ...portalProblems },
    }),
    async (c) => {
      const customerId = ownerOf(c);
      const input = c.req.valid('json');
      if (input.amount === null) await repo.clearSpendCap(customerId);
      else await repo.setSpendCap(customerId, input.amount, input.currency);
      await deps.budget.evaluate(customerId).catch(() => undefined);
      return c.json({ spendCap: await repo.spendCap(customerId) }, 200);
    },
  );

  api.openapi(
    createRoute({
      method: 'get',
      path: '/banners',
      tags,
      responses: { 200: json('OK'), ...portalProblems },
    }),
    async (c) => {
      const customerId = sessionOf(c).customerId;
      const firings = await repo.activeFirings(customerId);
      const cap = deps.budget.checkSpendCap(customerId);
      return c.json(
        {
          banners: [
            ...(cap ? [{ id: 'spend-cap', level: 'error', message: cap.detail ?? cap.title }] : []),
            ...firings.map((f) => ({
              id: f.alert_id,
              level: 'warning',
              message: f.message,
              firedAt: dt(f.fired_at),
            })),
          ],
        },
        200,
      );
    },
  );

  api.openapi(
    createRoute({
      method: 'post',
      path: '/banners/{id}/dismiss',
      tags,
      request: { params: pathParam('id') },
      responses: { 204: { description: 'Done' }, ...portalProblems },
    }),
    async (c) => {
      await repo.dismissFiring(sessionOf(c).customerId, c.req.param('id'));
      return c.body(null, 204);
    },
  );
}
