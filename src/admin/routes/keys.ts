import { createRoute, type OpenAPIHono, z } from '@hono/zod-openapi';
import { jsonBody, ok, problemResponses } from '../../http/openapi.ts';
import { problems } from '../../http/problem.ts';
import type { KeysService } from '../../keys/index.ts';
import type { CustomerService, SubscriptionService } from '../../subscriptions/index.ts';
import { ApiKeySchema, keyOut } from '../schemas.ts';
import { IdParam } from './params.ts';

/** `/api/admin/keys`: the gateway's API keys — list, create (secret shown once), revoke, roll. */
const tags = ['Keys'];

const KeyCreate = z
  .strictObject({
    customerId: z.string().min(1),
    subscriptionId: z
      .string()
      .nullable()
      .optional()
      .openapi({ description: "Default: the customer's current subscription" }),
    name: z.string().max(200).optional(),
    expiresAt: z.iso.datetime({ offset: true }).optional(),
    metadata: z.record(z.string(), z.unknown()).optional(),
  })
  .openapi('KeyCreate');

export const listKeysRoute = createRoute({
  method: 'get',
  path: '/keys',
  tags,
  summary: "List a customer's API keys",
  request: { query: z.object({ customerId: z.string().min(1) }) },
  responses: {
    200: ok(z.object({ data: z.array(ApiKeySchema) }), 'Keys (never the secret)'),
    ...problemResponses(400, 401, 404),
  },
});

export const createKeyRoute = createRoute({
  method: 'post',
  path: '/keys',
  tags,
  summary: 'Create an API key',
  description: 'The secret is in the response once and never again (only its hash is stored).',
  request: { body: jsonBody(KeyCreate) },
  responses: {
    201: ok(z.object({ key: ApiKeySchema, secret: z.string().openapi({ example: 'tg_live_…' }) }), 'Created'),
    ...problemResponses(400, 401, 404, 409),
  },
});

export const revokeKeyRoute = createRoute({
  method: 'post',
  path: '/keys/{id}/revoke',
  tags,
  summary: 'Revoke an API key',
  description: 'Stops working at once on every gateway node.',
  request: { params: IdParam },
  responses: { 200: ok(ApiKeySchema, 'Revoked'), ...problemResponses(401, 404) },
});

export const rollKeyRoute = createRoute({
  method: 'post',
  path: '/keys/{id}/roll',
  tags,
  summary: 'Roll an API key',
  description: 'Issues a successor; the old key keeps working for the configured grace period.',
  request: { params: IdParam },
  responses: {
    200: ok(z.object({ key: ApiKeySchema, secret: z.string(), previous: ApiKeySchema }), 'Rolled'),
    ...problemResponses(401, 404, 409),
  },
});

export interface KeyRouteDeps {
  keys: KeysService;
  customers: CustomerService;
  subscriptions: SubscriptionService;
}

/**
 * The subscription a new key is bound to: the customer's current one when none is named, none
 * for an explicit null, else the named one — which must be the customer's and not canceled.
 */
async function subscriptionForNewKey(
  subscriptions: SubscriptionService,
  customerId: string,
  subscriptionId: string | null | undefined,
): Promise<string | null> {
  if (subscriptionId === undefined) {
    return (await subscriptions.currentForCustomer(customerId))?.id ?? null;
  }
  if (subscriptionId === null) return null;
  const sub = await subscriptions.get(subscriptionId);
  if (!sub || sub.customerId !== customerId) {
    throw problems.validation(`No subscription "${subscriptionId}" for customer "${customerId}".`, [
      { path: 'subscriptionId', message: 'not a subscription of this customer' },
    ]);
  }
  if (sub.status === 'canceled') throw problems.conflict(`Subscription "${subscriptionId}" is canceled.`);
  return subscriptionId;
}

export function mountKeyRoutes(app: OpenAPIHono, { keys, customers, subscriptions }: KeyRouteDeps): void {
  app.openapi(listKeysRoute, async (c) => {
    const { customerId } = c.req.valid('query');
    await customers.require(customerId);
    return c.json({ data: (await keys.list(customerId)).map(keyOut) }, 200);
  });
  app.openapi(createKeyRoute, async (c) => {
    const body = c.req.valid('json');
    await customers.require(body.customerId);
    const created = await keys.create({
      customerId: body.customerId,
      subscriptionId: await subscriptionForNewKey(subscriptions, body.customerId, body.subscriptionId),
      name: body.name,
      metadata: body.metadata,
      expiresAt: body.expiresAt ? new Date(body.expiresAt) : null,
    });
    return c.json({ key: keyOut(created.key), secret: created.secret }, 201);
  });
  app.openapi(revokeKeyRoute, async (c) => c.json(keyOut(await keys.revoke(c.req.valid('param').id)), 200));
  app.openapi(rollKeyRoute, async (c) => {
    const rolled = await keys.roll(c.req.valid('param').id);
    return c.json({ key: keyOut(rolled.key), secret: rolled.secret, previous: keyOut(rolled.previous) }, 200);
  });
}
