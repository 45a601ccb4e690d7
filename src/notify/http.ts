import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import type { Hono } from 'hono';
import { requireAdmin } from '../admin/auth.ts';
import { PROBLEM_CONTENT_TYPE } from '../http/problem.ts';
import { validationHook } from '../http/validation.ts';
import { WEBHOOK_EVENT_DESCRIPTIONS, WEBHOOK_EVENT_SCHEMAS, WEBHOOK_EVENT_TYPES } from './event-types.ts';
import type { Mailer } from './mail.ts';
import type { WebhookService } from './webhooks.ts';

/**
 * `/api/admin/webhooks/*` on the admin API (so every route and every event's payload schema is in
 * `/api/admin/openapi.json`, the events under OpenAPI 3.1 `webhooks`): event types, endpoints
 * (the secret is shown at creation and at rotation only), the delivery log with attempts, paging
 * and replay, test events. The dev mailbox stays a plain route beside it.
 */
const Problem = z
  .object({ type: z.string(), title: z.string(), status: z.number(), detail: z.string().optional() })
  .passthrough()
  .openapi('WebhookProblem');
const problem = (description: string) => ({
  description,
  content: { [PROBLEM_CONTENT_TYPE]: { schema: Problem } },
});
const json = <T extends z.ZodType>(schema: T, description: string) => ({
  description,
  content: { 'application/json': { schema } },
});
const body = <T extends z.ZodType>(schema: T) => ({
  required: true,
  content: { 'application/json': { schema } },
});

const Endpoint = z
  .object({
    id: z.string(),
    url: z.string(),
    eventTypes: z.array(z.string()),
    description: z.string().nullable(),
    enabled: z.boolean(),
    disabledReason: z
      .string()
      .nullable()
      .describe('Why it is disabled: 410 Gone, a run of failures, or the operator'),
    disabledAt: z.string().nullable(),
    customerId: z.string().nullable().describe("Set for a customer's own endpoint (budget alerts)"),
    previousSecretExpiresAt: z.string().nullable().describe('Until then deliveries carry a second signature'),
    createdAt: z.string(),
    updatedAt: z.string().nullable(),
  })
  .openapi('WebhookEndpoint');
const Delivery = z
  .object({
    id: z.string(),
    endpointId: z.string(),
    messageId: z.string().describe('The `webhook-id` header: the same on every attempt'),
    type: z.string(),
    status: z.enum(['pending', 'succeeded', 'failed']),
    attempts: z.number().int(),
    nextAttemptAt: z.string().nullable(),
    lastAttemptAt: z.string().nullable(),
    lastStatusCode: z.number().int().nullable(),
    lastError: z.string().nullable(),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .openapi('WebhookDelivery');
const Attempt = z
  .object({
    id: z.string(),
    attemptedAt: z.string(),
    statusCode: z.number().int().nullable(),
    error: z.string().nullable(),
    durationMs: z.number().int(),
  })
  .openapi('WebhookAttempt');

const eventFilter = z.array(z.string()).describe('Exact event types, `prefix.*`, or `*`; empty: every event');
const secret = z.string().describe('`whsec_` + base64 of 24–64 random bytes; generated when absent');
const IdParam = z.object({
  id: z
    .string()
    .min(1)
    .openapi({ param: { name: 'id', in: 'path' } }),
});
const tag = ['Webhooks'];
const errors = {
  400: problem('Invalid input, naming the field'),
  401: problem('Missing or wrong admin token'),
};
const notFound = { 404: problem('No such endpoint or delivery') };

const routes = {
  eventTypes: createRoute({
    method: 'get',
    path: '/webhooks/event-types',
    tags: tag,
    summary: 'Every event type (payload schemas: the `webhooks` of this document)',
    responses: {
      200: json(
        z.object({ data: z.array(z.object({ type: z.string(), description: z.string() })) }),
        'Event types',
      ),
    },
  }),
  list: createRoute({
    method: 'get',
    path: '/webhooks/endpoints',
    tags: tag,
    summary: 'List endpoints (secrets are never shown here)',
    responses: { 200: json(z.object({ data: z.array(Endpoint) }), 'Endpoints'), ...errors },
  }),
  create: createRoute({
    method: 'post',
    path: '/webhooks/endpoints',
    tags: tag,
    summary: 'Create an endpoint; the response shows its secret, once',
    request: {
      body: body(
        z.strictObject({
          url: z.string().describe('https; no internal addresses unless allowed in notifications.allowHosts'),
          eventTypes: eventFilter.optional(),
          description: z.string().max(500).optional(),
          secret: secret.optional(),
        }),
      ),
    },
    responses: { 201: json(Endpoint.extend({ secret: z.string() }), 'Created'), ...errors },
  }),
  get: createRoute({
    method: 'get',
    path: '/webhooks/endpoints/{id}',
    tags: tag,
    summary: 'One endpoint',
    request: { params: IdParam },
    responses: { 200: json(Endpoint, 'The endpoint'), ...errors, ...notFound },
  }),
  update: createRoute({
    method: 'patch',
    path: '/webhooks/endpoints/{id}',
    tags: tag,
    summary: 'Change the URL, event types or description',
    request: {
      params: IdParam,
      body: body(
        z.strictObject({
          url: z.string().optional(),
          eventTypes: eventFilter.optional(),
          description: z.string().max(500).nullable().optional(),
        }),
      ),
    },
    responses: { 200: json(Endpoint, 'Updated'), ...errors, ...notFound },
  }),
  remove: createRoute({
    method: 'delete',
    path: '/webhooks/endpoints/{id}',
    tags: tag,
    summary: 'Delete an endpoint and its delivery log',
    request: { params: IdParam },
    responses: { 204: { description: 'Deleted' }, ...errors, ...notFound },
  }),
  disable: createRoute({
    method: 'post',
    path: '/webhooks/endpoints/{id}/disable',
    tags: tag,
    summary: 'Stop delivering to an endpoint (pending deliveries wait)',
    request: { params: IdParam },
    responses: { 200: json(Endpoint, 'Disabled'), ...errors, ...notFound },
  }),
  enable: createRoute({
    method: 'post',
    path: '/webhooks/endpoints/{id}/enable',
    tags: tag,
    summary: 'Deliver again (pending deliveries resume; the failure run starts over)',
    request: { params: IdParam },
    responses: { 200: json(Endpoint, 'Enabled'), ...errors, ...notFound },
  }),
  rotate: createRoute({
    method: 'post',
    path: '/webhooks/endpoints/{id}/rotate-secret',
    tags: tag,
    summary: 'A new secret; the old one signs too until the overlap ends (default 24 h)',
    request: {
      params: IdParam,
      body: {
        required: false,
        content: {
          'application/json': {
            schema: z.strictObject({
              secret: secret.optional(),
              overlapSeconds: z.number().int().min(0).max(604_800).optional(),
            }),
          },
        },
      },
    },
    responses: {
      200: json(
        z.object({ secret: z.string(), previousSecretExpiresAt: z.string() }),
        'The new secret, shown once',
      ),
      ...errors,
      ...notFound,
    },
  }),
  test: createRoute({
    method: 'post',
    path: '/webhooks/endpoints/{id}/test',
    tags: tag,
    summary: 'Queue a `webhook.test` event to this endpoint (whatever its event types)',
    request: { params: IdParam },
    responses: { 202: json(z.object({ messageId: z.string() }), 'Queued'), ...errors, ...notFound },
  }),
  replayRange: createRoute({
    method: 'post',
    path: '/webhooks/endpoints/{id}/replay',
    tags: tag,
    summary: 'Replay the deliveries created in [from, to) (optionally of one status)',
    request: {
      params: IdParam,
      body: body(
        z.strictObject({
          from: z.iso.datetime({ offset: true }),
          to: z.iso.datetime({ offset: true }),
          status: z.enum(['pending', 'succeeded', 'failed']).optional(),
        }),
      ),
    },
    responses: {
      202: json(z.object({ replayed: z.number().int() }), 'Queued again'),
      ...errors,
      ...notFound,
    },
  }),
  deliveries: createRoute({
    method: 'get',
    path: '/webhooks/deliveries',
    tags: tag,
    summary: 'The delivery log, newest first; page with `before=<nextBefore>`',
    request: {
      query: z.object({
        endpointId: z.string().optional(),
        status: z.enum(['pending', 'succeeded', 'failed']).optional(),
        before: z.string().optional(),
        limit: z.coerce.number().int().min(1).max(1000).optional(),
      }),
    },
    responses: {
      200: json(z.object({ data: z.array(Delivery), nextBefore: z.string().nullable() }), 'Deliveries'),
      ...errors,
    },
  }),
  delivery: createRoute({
    method: 'get',
    path: '/webhooks/deliveries/{id}',
    tags: tag,
    summary: 'One delivery with every attempt',
    request: { params: IdParam },
    responses: {
      200: json(Delivery.extend({ attemptLog: z.array(Attempt) }), 'The delivery'),
      ...errors,
      ...notFound,
    },
  }),
  replay: createRoute({
    method: 'post',
    path: '/webhooks/deliveries/{id}/replay',
    tags: tag,
    summary: 'Attempt a delivery again, now (same message id and body)',
    request: { params: IdParam },
    responses: { 202: json(Delivery, 'Queued again'), ...errors, ...notFound },
  }),
};

/** The webhook routes, paths relative to `/api/admin` (the admin API mounts them behind its token). */
export function webhookAdminApi(webhooks: WebhookService): OpenAPIHono {
  const app = new OpenAPIHono({ defaultHook: validationHook });
  app.openapi(routes.eventTypes, (c) =>
    c.json(
      { data: WEBHOOK_EVENT_TYPES.map((type) => ({ type, description: WEBHOOK_EVENT_DESCRIPTIONS[type] })) },
      200,
    ),
  );
  app.openapi(routes.list, async (c) => c.json({ data: await webhooks.listEndpoints() }, 200));
  app.openapi(routes.create, async (c) => c.json(await webhooks.createEndpoint(c.req.valid('json')), 201));
  app.openapi(routes.get, async (c) => c.json(await webhooks.getEndpoint(c.req.valid('param').id), 200));
  app.openapi(routes.update, async (c) =>
    c.json(await webhooks.updateEndpoint(c.req.valid('param').id, c.req.valid('json')), 200),
  );
  app.openapi(routes.remove, async (c) => {
    await webhooks.deleteEndpoint(c.req.valid('param').id);
    return c.body(null, 204);
  });
  app.openapi(routes.disable, async (c) =>
    c.json(await webhooks.setEnabled(c.req.valid('param').id, false), 200),
  );
  app.openapi(routes.enable, async (c) =>
    c.json(await webhooks.setEnabled(c.req.valid('param').id, true), 200),
  );
  app.openapi(routes.rotate, async (c) => {
    const input = (c.req.header('content-type')?.includes('json') ? c.req.valid('json') : undefined) ?? {};
    const rotated = await webhooks.rotateSecret(c.req.valid('param').id, {
      secret: input.secret,
      overlapMs: input.overlapSeconds === undefined ? undefined : input.overlapSeconds * 1000,
    });
    return c.json(rotated, 200);
  });
  app.openapi(routes.test, async (c) =>
    c.json({ messageId: await webhooks.sendTest(c.req.valid('param').id) }, 202),
  );
  app.openapi(routes.replayRange, async (c) => {
    const input = c.req.valid('json');
    const replayed = await webhooks.replayRange({
      endpointId: c.req.valid('param').id,
      from: new Date(input.from),
      to: new Date(input.to),
      status: input.status,
    });
    return c.json({ replayed }, 202);
  });
  app.openapi(routes.deliveries, async (c) => {
    const query = c.req.valid('query');
    const limit = query.limit ?? 100;
    const data = await webhooks.deliveries({ ...query, limit });
    return c.json({ data, nextBefore: data.length === limit ? (data.at(-1)?.id ?? null) : null }, 200);
  });
  app.openapi(routes.delivery, async (c) => {
    const id = c.req.valid('param').id;
    const [delivery] = await webhooks.deliveries({ id });
    if (!delivery)
      return c.json(
        { type: 'not-found', title: 'Not found', status: 404, detail: `No delivery ${id}.` },
        404,
      );
    return c.json({ ...delivery, attemptLog: await webhooks.attempts(id) }, 200);
  });
  app.openapi(routes.replay, async (c) => c.json(await webhooks.replay(c.req.valid('param').id), 202));
  return app;
}

/**
 * The contract receivers code against: each event's body, under OpenAPI 3.1 `webhooks` (on the
 * admin document's registry itself: a mounted sub-app's webhook names would gain a leading "/").
 */
export function registerWebhookContract(registry: OpenAPIHono['openAPIRegistry']): void {
  for (const type of WEBHOOK_EVENT_TYPES) {
    registry.registerWebhook({
      method: 'post',
      path: type,
      summary: WEBHOOK_EVENT_DESCRIPTIONS[type],
      description:
        'Signed per Standard Webhooks (`webhook-id`, `webhook-timestamp`, `webhook-signature`). Answer 2xx within 15 s; anything else is retried. First attempts reach an endpoint in the order the events were written; a retry can overtake a later event, so order events about one resource by `timestamp`.',
      request: {
        body: {
          required: true,
          content: {
            'application/json': {
              schema: z.object({
                type: z.literal(type),
                timestamp: z.string().describe('When the change was committed (ISO 8601, UTC)'),
                data: WEBHOOK_EVENT_SCHEMAS[type],
              }),
            },
          },
        },
      },
      responses: {
        200: { description: 'Received (any 2xx)' },
        410: { description: 'Gone: Tollgate disables the endpoint' },
      },
    });
  }
}

/** The dev mailbox (admin only). */
export function mountNotifyRoutes(app: Hono, deps: { mailer: Mailer; adminToken: string }): void {
  app.use('/api/admin/mailbox', requireAdmin(deps.adminToken));
  app.get('/api/admin/mailbox', async (c) =>
    c.json({ data: await deps.mailer.mailbox({ to: c.req.query('to') }) }),
  );
}
