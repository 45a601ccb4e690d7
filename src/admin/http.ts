import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import type { Hono } from 'hono';
import type { CatalogService } from '../catalog/index.ts';
import { jsonBody, ok, problemResponses } from '../http/openapi.ts';
import { problems } from '../http/problem.ts';
import { validationHook } from '../http/validation.ts';
import type { KeysService } from '../keys/index.ts';
import {
  type ContractOverrides,
  type CustomerService,
  contractOverridesSchema,
  customerInputSchema,
  customerPatchSchema,
  type EntitlementBalanceReader,
  type SubscriptionService,
} from '../subscriptions/index.ts';
import { requireAdmin } from './auth.ts';
import { mountApiReference } from './reference.ts';
import {
  ApiKeySchema,
  BalanceSchema,
  CustomerSchema,
  customerOut,
  FeatureSchema,
  keyOut,
  PlanSchema,
  PlanVersionSchema,
  planVersionOut,
  SegmentSchema,
  SubscriptionSchema,
  segmentOut,
  subscriptionOut,
} from './schemas.ts';

/**
 * The admin API under `/api/admin`: customers, subscriptions, plans, keys and entitlement
 * balances, with its own OpenAPI document (`/api/admin/openapi.json`) and reference page
 * (`/api/admin/docs`). Every request needs `Authorization: Bearer <admin token>`; every error is
 * application/problem+json (validation errors name the field).
 */
export interface AdminApiDeps {
  adminToken: string;
  catalog: CatalogService;
  customers: CustomerService;
  subscriptions: SubscriptionService;
  keys: KeysService;
  balances: EntitlementBalanceReader;
  /**
   * Other modules' admin routes (billing's invoices, credits and runs; notify's webhooks), each an
   * `OpenAPIHono` with paths relative to `/api/admin`: mounted behind the admin token and listed
   * in the same OpenAPI document.
   */
  routes?: readonly OpenAPIHono[];
}

export const ADMIN_BASE_PATH = '/api/admin';

const IdParam = z.object({
  id: z
    .string()
    .min(1)
    .openapi({ param: { name: 'id', in: 'path' } }),
});
const KeyParam = z.object({
  key: z
    .string()
    .min(1)
    .openapi({ param: { name: 'key', in: 'path' } }),
});
const Paging = {
  limit: z.coerce
    .number()
    .int()
    .min(1)
    .max(1000)
    .optional()
    .openapi({ description: 'Page size (default 100)' }),
  offset: z.coerce.number().int().min(0).optional(),
};

// Rebuilt with this module's `z`: schemas made before @hono/zod-openapi loaded lack `.openapi()`.
const CustomerCreate = z.strictObject({ ...customerInputSchema.shape }).openapi('CustomerCreate');
const CustomerPatch = z.strictObject({ ...customerPatchSchema.shape }).openapi('CustomerPatch');
// The contract schema itself (the config's price and entitlement schemas inside), so the admin
// API takes exactly what a plan in the config takes: one schema, checked at the edge.
const Overrides = z.strictObject({ ...contractOverridesSchema.shape }).openapi('ContractOverrides', {
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

export function createAdminApi(deps: AdminApiDeps): OpenAPIHono {
  const { catalog, customers, subscriptions, keys, balances } = deps;
  const app = new OpenAPIHono({
    defaultHook: validationHook,
  });

  app.get('/openapi.json', (c) =>
    c.json(
      app.getOpenAPI31Document({
        openapi: '3.1.0',
        info: {
          title: 'Tollgate admin API',
          version: '1',
          description:
            'Customers, subscriptions, plans, API keys, entitlement balances, invoices, prepaid credits, billing runs and outgoing webhooks. Authenticate with `Authorization: Bearer <admin token>`. Errors are application/problem+json.',
        },
        servers: [{ url: ADMIN_BASE_PATH }],
        security: [{ adminToken: [] }],
      }),
    ),
  );
  app.openAPIRegistry.registerComponent('securitySchemes', 'adminToken', { type: 'http', scheme: 'bearer' });
  mountApiReference(app, {
    path: '/docs',
    title: 'Tollgate admin API',
    documentUrl: `${ADMIN_BASE_PATH}/openapi.json`,
    scriptUrl: `${ADMIN_BASE_PATH}/docs/scalar.js`,
  });

  app.use('*', requireAdmin(deps.adminToken));
  for (const routes of deps.routes ?? []) app.route('/', routes);

  // ---- customers ----
  app.openapi(
    createRoute({
      method: 'get',
      path: '/customers',
      tags: ['Customers'],
      summary: 'List customers',
      request: { query: z.object({ search: z.string().optional(), ...Paging }) },
      responses: {
        200: ok(z.object({ data: z.array(CustomerSchema) }), 'Customers, newest first'),
        ...problemResponses(400, 401),
      },
    }),
    async (c) => {
      const q = c.req.valid('query');
      return c.json({ data: (await customers.list(q)).map(customerOut) }, 200);
    },
  );
  app.openapi(
    createRoute({
      method: 'post',
      path: '/customers',
      tags: ['Customers'],
      summary: 'Create a customer',
      request: { body: jsonBody(CustomerCreate) },
      responses: { 201: ok(CustomerSchema, 'Created'), ...problemResponses(400, 401, 409) },
    }),
    async (c) => c.json(customerOut(await customers.create(c.req.valid('json'))), 201),
  );
  app.openapi(
    createRoute({
      method: 'get',
      path: '/customers/{id}',
      tags: ['Customers'],
      summary: 'Get a customer',
      request: { params: IdParam },
      responses: { 200: ok(CustomerSchema, 'The customer'), ...problemResponses(401, 404) },
    }),
    async (c) => c.json(customerOut(await customers.require(c.req.valid('param').id)), 200),
  );
  app.openapi(
    createRoute({
      method: 'patch',
      path: '/customers/{id}',
      tags: ['Customers'],
      summary: 'Update a customer',
      request: { params: IdParam, body: jsonBody(CustomerPatch) },
      responses: { 200: ok(CustomerSchema, 'Updated'), ...problemResponses(400, 401, 404) },
    }),
    async (c) =>
      c.json(customerOut(await customers.update(c.req.valid('param').id, c.req.valid('json'))), 200),
  );
  app.openapi(
    createRoute({
      method: 'delete',
      path: '/customers/{id}',
      tags: ['Customers'],
      summary: 'Delete a customer',
      description: 'Refused (409) while the customer has a subscription that is not canceled.',
      request: { params: IdParam },
      responses: { 200: ok(CustomerSchema, 'Deleted'), ...problemResponses(401, 404, 409) },
    }),
    async (c) => c.json(customerOut(await customers.delete(c.req.valid('param').id)), 200),
  );
  app.openapi(
    createRoute({
      method: 'get',
      path: '/customers/{id}/entitlements',
      tags: ['Customers'],
      summary: 'Entitlement balances',
      description: "Usage in the current usage period against the limit, per feature of the customer's plan.",
      request: { params: IdParam },
      responses: {
        200: ok(
          z.object({
            customerId: z.string(),
            subscriptionId: z.string().nullable(),
            planKey: z.string().nullable(),
            planVersion: z.number().int().nullable(),
            status: z.string().nullable(),
            balances: z.array(BalanceSchema),
          }),
          'Balances',
        ),
        ...problemResponses(401, 404),
      },
    }),
    async (c) => c.json(await balances(c.req.valid('param').id), 200),
  );

  // ---- subscriptions ----
  app.openapi(
    createRoute({
      method: 'get',
      path: '/subscriptions',
      tags: ['Subscriptions'],
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
    }),
    async (c) => {
      const q = c.req.valid('query');
      const list = await subscriptions.list({
        customerId: q.customerId,
        planKey: q.plan,
        status: q.status,
        limit: q.limit,
        offset: q.offset,
      });
      return c.json({ data: list.map(subscriptionOut) }, 200);
    },
  );
  app.openapi(
    createRoute({
      method: 'post',
      path: '/subscriptions',
      tags: ['Subscriptions'],
      summary: 'Subscribe a customer to a plan',
      description: 'Starts with the trial phase when the plan has one. One live subscription per customer.',
      request: { body: jsonBody(SubscriptionCreate) },
      responses: { 201: ok(SubscriptionSchema, 'Created'), ...problemResponses(400, 401, 404, 409) },
    }),
    async (c) => {
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
    },
  );
  const subRoute = (
    method: 'get' | 'post' | 'put' | 'delete',
    path: string,
    summary: string,
    description?: string,
  ) => ({ method, path, tags: ['Subscriptions'], summary, description });
  app.openapi(
    createRoute({
      ...subRoute('get', '/subscriptions/{id}', 'Get a subscription'),
      request: { params: IdParam },
      responses: { 200: ok(SubscriptionSchema, 'The subscription'), ...problemResponses(401, 404) },
    }),
    async (c) => c.json(subscriptionOut(await subscriptions.require(c.req.valid('param').id)), 200),
  );
  app.openapi(
    createRoute({
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
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      await subscriptions.require(id);
      return c.json({ data: (await subscriptions.segments(id)).map(segmentOut) }, 200);
    },
  );
  app.openapi(
    createRoute({
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
    }),
    async (c) => {
      const body = c.req.valid('json');
      const sub = await subscriptions.changePlan(c.req.valid('param').id, {
        planKey: body.plan,
        version: body.version,
        timing: body.timing,
      });
      return c.json(subscriptionOut(sub), 200);
    },
  );
  app.openapi(
    createRoute({
      ...subRoute('delete', '/subscriptions/{id}/pending-change', 'Drop a scheduled plan change'),
      request: { params: IdParam },
      responses: { 200: ok(SubscriptionSchema, 'Updated'), ...problemResponses(401, 404, 409) },
    }),
    async (c) =>
      c.json(subscriptionOut(await subscriptions.cancelPendingChange(c.req.valid('param').id)), 200),
  );
  app.openapi(
    createRoute({
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
    }),
    async (c) => {
      const body = c.req.valid('json') ?? { timing: 'period_end' as const };
      return c.json(
        subscriptionOut(await subscriptions.cancel(c.req.valid('param').id, { timing: body.timing })),
        200,
      );
    },
  );
  app.openapi(
    createRoute({
      ...subRoute(
        'post',
        '/subscriptions/{id}/resume',
        'Resume',
        'Undoes a cancel scheduled for the period end.',
      ),
      request: { params: IdParam },
      responses: { 200: ok(SubscriptionSchema, 'Resumed'), ...problemResponses(401, 404, 409) },
    }),
    async (c) => c.json(subscriptionOut(await subscriptions.resume(c.req.valid('param').id)), 200),
  );
  app.openapi(
    createRoute({
      ...subRoute(
        'post',
        '/subscriptions/{id}/suspend',
        'Suspend',
        'Blocks its API keys with 402 payment-required until reactivated (dunning does this after the grace period).',
      ),
      request: { params: IdParam },
      responses: { 200: ok(SubscriptionSchema, 'Suspended'), ...problemResponses(401, 404, 409) },
    }),
    async (c) => c.json(subscriptionOut(await subscriptions.suspend(c.req.valid('param').id)), 200),
  );
  app.openapi(
    createRoute({
      ...subRoute(
        'post',
        '/subscriptions/{id}/reactivate',
        'Reactivate',
        'Back to active (or trialing) from past_due or suspended; its keys work again at once.',
      ),
      request: { params: IdParam },
      responses: { 200: ok(SubscriptionSchema, 'Reactivated'), ...problemResponses(401, 404, 409) },
    }),
    async (c) => c.json(subscriptionOut(await subscriptions.reactivate(c.req.valid('param').id)), 200),
  );
  app.openapi(
    createRoute({
      ...subRoute(
        'post',
        '/subscriptions/{id}/migrate',
        'Migrate to a newer plan version',
        'Default: the latest.',
      ),
      request: { params: IdParam, body: jsonBody(MigrateBody, false) },
      responses: { 200: ok(SubscriptionSchema, 'Migrated'), ...problemResponses(400, 401, 404, 409) },
    }),
    async (c) => {
      const body = c.req.valid('json');
      return c.json(
        subscriptionOut(await subscriptions.migrate(c.req.valid('param').id, body?.version)),
        200,
      );
    },
  );
  app.openapi(
    createRoute({
      ...subRoute(
        'put',
        '/subscriptions/{id}/overrides',
        'Set the contract overrides',
        'Replaces the overrides; limits apply to the gateway at once, prices from now on (a new segment).',
      ),
      request: { params: IdParam, body: jsonBody(Overrides) },
      responses: { 200: ok(SubscriptionSchema, 'Updated'), ...problemResponses(400, 401, 404, 409) },
    }),
    async (c) =>
      c.json(
        subscriptionOut(
          await subscriptions.setOverrides(c.req.valid('param').id, c.req.valid('json') as ContractOverrides),
        ),
        200,
      ),
  );

  // ---- catalog ----
  app.openapi(
    createRoute({
      method: 'get',
      path: '/plans',
      tags: ['Plans'],
      summary: 'List plans',
      responses: {
        200: ok(z.object({ data: z.array(PlanSchema) }), 'Plans in config order'),
        ...problemResponses(401),
      },
    }),
    async (c) => {
      const counts = await catalog.subscriberCounts();
      const data = [];
      for (const plan of await catalog.listPlans()) {
        const latest = await catalog.getPlanVersion(plan.key, plan.latestVersion);
        data.push({
          key: plan.key,
          name: plan.name,
          status: plan.status,
          latestVersion: plan.latestVersion,
          subscribers: counts.get(plan.key) ?? 0,
          latest: latest ? planVersionOut(latest) : null,
        });
      }
      return c.json({ data }, 200);
    },
  );
  app.openapi(
    createRoute({
      method: 'get',
      path: '/plans/{key}/versions',
      tags: ['Plans'],
      summary: "A plan's published versions",
      request: { params: KeyParam },
      responses: {
        200: ok(z.object({ data: z.array(PlanVersionSchema) }), 'Versions, oldest first'),
        ...problemResponses(401, 404),
      },
    }),
    async (c) => {
      const { key } = c.req.valid('param');
      if (!(await catalog.getPlan(key))) throw problems.notFound(`No plan "${key}".`);
      return c.json({ data: (await catalog.listPlanVersions(key)).map(planVersionOut) }, 200);
    },
  );
  app.openapi(
    createRoute({
      method: 'get',
      path: '/plans/{key}/versions/{version}',
      tags: ['Plans'],
      summary: 'One plan version',
      request: {
        params: KeyParam.extend({
          version: z.coerce
            .number()
            .int()
            .positive()
            .openapi({ param: { name: 'version', in: 'path' } }),
        }),
      },
      responses: { 200: ok(PlanVersionSchema, 'The version'), ...problemResponses(400, 401, 404) },
    }),
    async (c) => {
      const { key, version } = c.req.valid('param');
      const found = await catalog.getPlanVersion(key, version);
      if (!found) throw problems.notFound(`Plan "${key}" has no version ${version}.`);
      return c.json(planVersionOut(found), 200);
    },
  );
  app.openapi(
    createRoute({
      method: 'get',
      path: '/features',
      tags: ['Plans'],
      summary: 'List features',
      responses: {
        200: ok(z.object({ data: z.array(FeatureSchema) }), 'Features'),
        ...problemResponses(401),
      },
    }),
    async (c) => {
      const data = (await catalog.listFeatures()).map((f) => ({
        key: f.key,
        name: f.name,
        description: f.description,
        meter: f.meter,
        meterGroupByFilters: f.meterGroupByFilters,
        archived: f.archivedAt !== null,
      }));
      return c.json({ data }, 200);
    },
  );

  // ---- keys (the gateway's key service) ----
  app.openapi(
    createRoute({
      method: 'get',
      path: '/keys',
      tags: ['Keys'],
      summary: "List a customer's API keys",
      request: { query: z.object({ customerId: z.string().min(1) }) },
      responses: {
        200: ok(z.object({ data: z.array(ApiKeySchema) }), 'Keys (never the secret)'),
        ...problemResponses(400, 401, 404),
      },
    }),
    async (c) => {
      const { customerId } = c.req.valid('query');
      await customers.require(customerId);
      return c.json({ data: (await keys.list(customerId)).map(keyOut) }, 200);
    },
  );
  app.openapi(
    createRoute({
      method: 'post',
      path: '/keys',
      tags: ['Keys'],
      summary: 'Create an API key',
      description: 'The secret is in the response once and never again (only its hash is stored).',
      request: { body: jsonBody(KeyCreate) },
      responses: {
        201: ok(
          z.object({ key: ApiKeySchema, secret: z.string().openapi({ example: 'tg_live_…' }) }),
          'Created',
        ),
        ...problemResponses(400, 401, 404, 409),
      },
    }),
    async (c) => {
      const body = c.req.valid('json');
      await customers.require(body.customerId);
      let subscriptionId = body.subscriptionId;
      if (subscriptionId === undefined) {
        subscriptionId = (await subscriptions.currentForCustomer(body.customerId))?.id ?? null;
      } else if (subscriptionId !== null) {
        const sub = await subscriptions.get(subscriptionId);
        if (!sub || sub.customerId !== body.customerId) {
          throw problems.validation(
            `No subscription "${subscriptionId}" for customer "${body.customerId}".`,
            [{ path: 'subscriptionId', message: 'not a subscription of this customer' }],
          );
        }
        if (sub.status === 'canceled')
          throw problems.conflict(`Subscription "${subscriptionId}" is canceled.`);
      }
      const created = await keys.create({
        customerId: body.customerId,
        subscriptionId,
        name: body.name,
        metadata: body.metadata,
        expiresAt: body.expiresAt ? new Date(body.expiresAt) : null,
      });
      return c.json({ key: keyOut(created.key), secret: created.secret }, 201);
    },
  );
  app.openapi(
    createRoute({
      method: 'post',
      path: '/keys/{id}/revoke',
      tags: ['Keys'],
      summary: 'Revoke an API key',
      description: 'Stops working at once on every gateway node.',
      request: { params: IdParam },
      responses: { 200: ok(ApiKeySchema, 'Revoked'), ...problemResponses(401, 404) },
    }),
    async (c) => c.json(keyOut(await keys.revoke(c.req.valid('param').id)), 200),
  );
  app.openapi(
    createRoute({
      method: 'post',
      path: '/keys/{id}/roll',
      tags: ['Keys'],
      summary: 'Roll an API key',
      description: 'Issues a successor; the old key keeps working for the configured grace period.',
      request: { params: IdParam },
      responses: {
        200: ok(z.object({ key: ApiKeySchema, secret: z.string(), previous: ApiKeySchema }), 'Rolled'),
        ...problemResponses(401, 404, 409),
      },
    }),
    async (c) => {
      const rolled = await keys.roll(c.req.valid('param').id);
      return c.json(
        { key: keyOut(rolled.key), secret: rolled.secret, previous: keyOut(rolled.previous) },
        200,
      );
    },
  );

  return app;
}

/** Mounts the admin API on the console app under `/api/admin`. */
export function mountAdminApi(consoleApp: Hono, deps: AdminApiDeps): OpenAPIHono {
  const api = createAdminApi(deps);
  consoleApp.route(ADMIN_BASE_PATH, api);
  return api;
}
