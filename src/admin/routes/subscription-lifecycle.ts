import { createRoute, type OpenAPIHono, z } from '@hono/zod-openapi';
import { jsonBody, ok, problemResponses } from '../../http/openapi.ts';
import type { ContractOverrides, SubscriptionService } from '../../subscriptions/index.ts';
import { SubscriptionSchema, subscriptionOut } from '../schemas.ts';
import { IdParam } from './params.ts';
import { Overrides, subRoute } from './subscriptions.ts';

/**
 * `/api/admin/subscriptions/{id}/…`: what happens to a subscription after it starts — plan
 * changes, cancel and resume, suspend and reactivate, version migration, contract overrides.
 */
const PlanChange = z
  .strictObject({
    plan: z.string().min(1).openapi({ example: 'pro' }),
    version: z.number().int().positive().optional(),
    timing: z.enum(['now', 'period_end']).default('now').openapi({
      description:
        '`now`: effective at once, prorated by second (upgrade). `period_end`: scheduled (downgrade).',
    }),
  })
  .openapi('PlanChange');
const CancelBody = z
  .strictObject({ timing: z.enum(['now', 'period_end']).default('period_end') })
  .openapi('Cancel');
const MigrateBody = z.strictObject({ version: z.number().int().positive().optional() }).openapi('Migrate');

export const changePlanRoute = createRoute({
  ...subRoute(
    'post',
    '/subscriptions/{id}/change',
    'Change plan',
    'Upgrade now (prorated by second) or schedule a downgrade at the period end.',
  ),
  request: { params: IdParam, body: jsonBody(PlanChange) },
  responses: {
    200: ok(SubscriptionSchema, 'Changed or scheduled'),
    ...problemResponses(400, 401, 404, 409),
  },
});

export const dropPendingChangeRoute = createRoute({
  ...subRoute('delete', '/subscriptions/{id}/pending-change', 'Drop a scheduled plan change'),
  request: { params: IdParam },
  responses: { 200: ok(SubscriptionSchema, 'Updated'), ...problemResponses(401, 404, 409) },
});

export const cancelRoute = createRoute({
  ...subRoute(
    'post',
    '/subscriptions/{id}/cancel',
    'Cancel',
    'At the period end (default; resumable) or now (its API keys stop working at once).',
  ),
  request: { params: IdParam, body: jsonBody(CancelBody, false) },
  responses: {
    200: ok(SubscriptionSchema, 'Canceled or scheduled'),
    ...problemResponses(400, 401, 404, 409),
  },
});

export const resumeRoute = createRoute({
  ...subRoute(
    'post',
    '/subscriptions/{id}/resume',
    'Resume',
    'Undoes a cancel scheduled for the period end.',
  ),
  request: { params: IdParam },
  responses: { 200: ok(SubscriptionSchema, 'Resumed'), ...problemResponses(401, 404, 409) },
});

export const suspendRoute = createRoute({
  ...subRoute(
    'post',
    '/subscriptions/{id}/suspend',
    'Suspend',
    'Blocks its API keys with 402 payment-required until reactivated (dunning does this after the grace period).',
  ),
  request: { params: IdParam },
  responses: { 200: ok(SubscriptionSchema, 'Suspended'), ...problemResponses(401, 404, 409) },
});

export const reactivateRoute = createRoute({
  ...subRoute(
    'post',
    '/subscriptions/{id}/reactivate',
    'Reactivate',
    'Back to active (or trialing) from past_due or suspended; its keys work again at once.',
  ),
  request: { params: IdParam },
  responses: { 200: ok(SubscriptionSchema, 'Reactivated'), ...problemResponses(401, 404, 409) },
});

export const migrateRoute = createRoute({
  ...subRoute(
    'post',
    '/subscriptions/{id}/migrate',
    'Migrate to a newer plan version',
    'Default: the latest.',
  ),
  request: { params: IdParam, body: jsonBody(MigrateBody, false) },
  responses: { 200: ok(SubscriptionSchema, 'Migrated'), ...problemResponses(400, 401, 404, 409) },
});

export const setOverridesRoute = createRoute({
  ...subRoute(
    'put',
    '/subscriptions/{id}/overrides',
    'Set the contract overrides',
    'Replaces the overrides; limits apply to the gateway at once, prices from now on (a new segment).',
  ),
  request: { params: IdParam, body: jsonBody(Overrides) },
  responses: { 200: ok(SubscriptionSchema, 'Updated'), ...problemResponses(400, 401, 404, 409) },
});

export function mountSubscriptionLifecycleRoutes(app: OpenAPIHono, subscriptions: SubscriptionService): void {
  app.openapi(changePlanRoute, async (c) => {
    const body = c.req.valid('json');
    const sub = await subscriptions.changePlan(c.req.valid('param').id, {
      planKey: body.plan,
      version: body.version,
      timing: body.timing,
    });
    return c.json(subscriptionOut(sub), 200);
  });
  app.openapi(dropPendingChangeRoute, async (c) =>
    c.json(subscriptionOut(await subscriptions.cancelPendingChange(c.req.valid('param').id)), 200),
  );
  app.openapi(cancelRoute, async (c) => {
    const body = c.req.valid('json') ?? { timing: 'period_end' as const };
    return c.json(
      subscriptionOut(await subscriptions.cancel(c.req.valid('param').id, { timing: body.timing })),
      200,
    );
  });
  app.openapi(resumeRoute, async (c) =>
    c.json(subscriptionOut(await subscriptions.resume(c.req.valid('param').id)), 200),
  );
  app.openapi(suspendRoute, async (c) =>
    c.json(subscriptionOut(await subscriptions.suspend(c.req.valid('param').id)), 200),
  );
  app.openapi(reactivateRoute, async (c) =>
    c.json(subscriptionOut(await subscriptions.reactivate(c.req.valid('param').id)), 200),
  );
  app.openapi(migrateRoute, async (c) => {
    const body = c.req.valid('json');
    return c.json(subscriptionOut(await subscriptions.migrate(c.req.valid('param').id, body?.version)), 200);
  });
  app.openapi(setOverridesRoute, async (c) =>
    c.json(
      subscriptionOut(
        await subscriptions.setOverrides(c.req.valid('param').id, c.req.valid('json') as ContractOverrides),
      ),
      200,
    ),
  );
}
