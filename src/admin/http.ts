import { OpenAPIHono } from '@hono/zod-openapi';
import type { Hono } from 'hono';
import type { CatalogService } from '../catalog/index.ts';
import { validationHook } from '../http/validation.ts';
import type { KeysService } from '../keys/index.ts';
import type {
  CustomerService,
  EntitlementBalanceReader,
  SubscriptionService,
} from '../subscriptions/index.ts';
import { requireAdmin } from './auth.ts';
import { mountApiReference } from './reference.ts';
import { mountCustomerRoutes } from './routes/customers.ts';
import { mountKeyRoutes } from './routes/keys.ts';
import { mountPlanRoutes } from './routes/plans.ts';
import { mountSubscriptionLifecycleRoutes } from './routes/subscription-lifecycle.ts';
import { mountSubscriptionRoutes } from './routes/subscriptions.ts';

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

  mountCustomerRoutes(app, customers, balances);
  mountSubscriptionRoutes(app, subscriptions);
  mountSubscriptionLifecycleRoutes(app, subscriptions);
  mountPlanRoutes(app, catalog);
  mountKeyRoutes(app, { keys, customers, subscriptions });

  return app;
}

/** Mounts the admin API on the console app under `/api/admin`. */
export function mountAdminApi(consoleApp: Hono, deps: AdminApiDeps): OpenAPIHono {
  const api = createAdminApi(deps);
  consoleApp.route(ADMIN_BASE_PATH, api);
  return api;
}
