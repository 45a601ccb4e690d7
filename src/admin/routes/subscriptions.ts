import { createRoute, type OpenAPIHono, z } from '@hono/zod-openapi';
import { jsonBody, ok, problemResponses } from '../../http/openapi.ts';
import {
  type ContractOverrides,
  contractOverridesSchema,
  type SubscriptionService,
} from '../../subscriptions/index.ts';
import { SegmentSchema, SubscriptionSchema, segmentOut, subscriptionOut } from '../schemas.ts';
import { IdParam, Paging } from './params.ts';

/** `/api/admin/subscriptions`: list, subscribe, get, and the plan history billing prorates by. */
const tags = ['Subscriptions'];

// The contract schema itself (the config's price and entitlement schemas inside), so the admin
// API takes exactly what a plan in the config takes: one schema, checked at the edge.
export const Overrides = z.strictObject({ ...contractOverridesSchema.shape }).openapi('ContractOverrides', {
  description:
    'Per-customer overrides: `rateLimit`, and per rate card key `limit`, `softLimit`, `price` (any price type of the config, take rates and included units too), `entitlement`, `remove`; a key the plan lacks adds a rate card (with `feature`).',
});
const SubscriptionCreate = z
  .strictObject({
    customerId: z.string().min(1),
    plan: z.string().min(1).openapi({ example: 'pro' }),
    version: z.number().int().positive().optional().openapi({ description: 'Default: the latest version' }),
    trial: z
      .boolean()
      .optional()
      .openapi({ description: "Start with the plan's trial phase (default true)" }),
    overrides: Overrides.optional(),
    metadata: z.record(z.string(), z.unknown()).optional(),
  })
  .openapi('SubscriptionCreate');

/** The fields every subscription route shares. */
export const subRoute = (
  method: 'get' | 'post' | 'put' | 'delete',
  path: string,
  summary: string,
  description?: string,
) => ({ method, path, tags, summary, description });

export const listSubscriptionsRoute = createRoute({
  method: 'get',
  path: '/subscriptions',
  tags,
  summary: 'List subscriptions',
  request: {
    query: z.object({
      customerId: z.string().optional(),
      plan: z.string().optional(),
      status: z.enum(['trialing', 'active', 'past_due', 'suspended', 'canceled']).optional(),
      ...Paging,
    }),
  },
  responses: {
    200: ok(z.object({ data: z.array(SubscriptionSchema) }), 'Subscriptions'),
    ...problemResponses(400, 401),
  },
});

export const createSubscriptionRoute = createRoute({
  method: 'post',
  path: '/subscriptions',
  tags,
  summary: 'Subscribe a customer to a plan',
  description: 'Starts with the trial phase when the plan has one. One live subscription per customer.',
  request: { body: jsonBody(SubscriptionCreate) },
  responses: { 201: ok(SubscriptionSchema, 'Created'), ...problemResponses(400, 401, 404, 409) },
});

export const getSubscriptionRoute = createRoute({
  ...subRoute('get', '/subscriptions/{id}', 'Get a subscription'),
  request: { params: IdParam },
  responses: { 200: ok(SubscriptionSchema, 'The subscription'), ...problemResponses(401, 404) },
});

export const subscriptionSegmentsRoute = createRoute({
  ...subRoute(
    'get',
    '/subscriptions/{id}/segments',
    'Plan history',
    'Which plan version (and contract) was in force over [from, to): what billing prorates by second.',
  ),
  request: { params: IdParam },
  responses: {
    200: ok(z.object({ data: z.array(SegmentSchema) }), 'Segments, oldest first'),
    ...problemResponses(401, 404),
  },
});

export function mountSubscriptionRoutes(app: OpenAPIHono, subscriptions: SubscriptionService): void {
  app.openapi(listSubscriptionsRoute, async (c) => {
    const q = c.req.valid('query');
    const list = await subscriptions.list({
      customerId: q.customerId,
      planKey: q.plan,
      status: q.status,
      limit: q.limit,
      offset: q.offset,
    });
    return c.json({ data: list.map(subscriptionOut) }, 200);
  });
  app.openapi(createSubscriptionRoute, async (c) => {
    const body = c.req.valid('json');
    const sub = await subscriptions.subscribe({
      customerId: body.customerId,
      planKey: body.plan,
      version: body.version,
      trial: body.trial,
      // The service validates the contract fully (this schema only documents it).
      overrides: body.overrides as ContractOverrides | undefined,
      metadata: body.metadata,
    });
    return c.json(subscriptionOut(sub), 201);
  });
  app.openapi(getSubscriptionRoute, async (c) =>
    c.json(subscriptionOut(await subscriptions.require(c.req.valid('param').id)), 200),
  );
  app.openapi(subscriptionSegmentsRoute, async (c) => {
    const { id } = c.req.valid('param');
    await subscriptions.require(id);
    return c.json({ data: (await subscriptions.segments(id)).map(segmentOut) }, 200);
  });
}
