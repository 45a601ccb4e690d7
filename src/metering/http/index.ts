import { OpenAPIHono } from '@hono/zod-openapi';
import type { Hono } from 'hono';
import { requireAdmin } from '../../admin/auth.ts';
import { mountApiReference } from '../../admin/reference.ts';
import { validationHook } from '../../http/validation.ts';
import type { Store } from '../../store/index.ts';
import type { CustomerService } from '../../subscriptions/customers.ts';
import type { CustomerSubjectStore } from '../customer-subjects.ts';
import type { Metering } from '../metering.ts';
import { mountCustomerRoutes } from './customers-api.ts';
import { mountEventRoutes } from './events.ts';
import { mountMeterRoutes } from './meters.ts';
import { mountQueryRoutes } from './query.ts';
import { mountSubjectRoutes, subjectNames } from './subjects.ts';

export type { CustomerSubjects } from './customers.ts';
export { meterJson } from './meters.ts';

/**
 * The OpenMeter-compatible API (same paths, parameters and fields as OpenMeter's `/api/v1`),
 * guarded by the admin token as OpenMeter's API key, so OpenMeter's official clients work
 * unchanged against Tollgate's console listener. docs/openmeter.md lists every endpoint the
 * official SDK calls and how Tollgate serves it.
 */
export const METERING_BASE_PATH = '/api/v1';

export function mountMeteringRoutes(
  app: Hono,
  deps: {
    adminToken: string;
    metering: Pick<Metering, 'meters' | 'reader' | 'ingest' | 'admin' | 'listEvents' | 'groupByValues'>;
    /** Tollgate's customers as OpenMeter's (`/api/v1/customers`, `filterCustomerId`). */
    customers?: { store: Store; service: CustomerService; subjects: CustomerSubjectStore };
    now: () => Date;
  },
): OpenAPIHono {
  const auth = requireAdmin(deps.adminToken);
  for (const resource of ['events', 'meters', 'subjects', 'customers']) {
    app.use(`${METERING_BASE_PATH}/${resource}`, auth);
    app.use(`${METERING_BASE_PATH}/${resource}/*`, auth);
  }
  // Routes relative to /api/v1. The document and its reference page are public, as the admin API's.
  const api = new OpenAPIHono({ defaultHook: validationHook });
  api.get('/openapi.json', (c) =>
    c.json(
      api.getOpenAPI31Document({
        openapi: '3.1.0',
        info: {
          title: 'Tollgate metering API (OpenMeter-compatible)',
          version: '1',
          description:
            "OpenMeter's `/api/v1` as Tollgate serves it: events, meters and meter queries, subjects and customers. OpenMeter's official clients work unchanged. Authenticate with `Authorization: Bearer <admin token>`. Errors are application/problem+json. docs/openmeter.md lists how each endpoint follows OpenMeter.",
        },
        servers: [{ url: METERING_BASE_PATH }],
        security: [{ adminToken: [] }],
      }),
    ),
  );
  api.openAPIRegistry.registerComponent('securitySchemes', 'adminToken', { type: 'http', scheme: 'bearer' });
  mountApiReference(api, {
    path: '/docs',
    title: 'Tollgate metering API',
    documentUrl: `${METERING_BASE_PATH}/openapi.json`,
    scriptUrl: `${METERING_BASE_PATH}/docs/scalar.js`,
  });
  const { metering } = deps;
  const customers = deps.customers?.subjects;
  mountEventRoutes(api, { ingest: metering.ingest, listEvents: metering.listEvents, customers });
  mountMeterRoutes(api, { meters: metering.meters, admin: metering.admin });
  mountQueryRoutes(api, {
    meters: metering.meters,
    reader: metering.reader,
    groupByValues: metering.groupByValues,
    customers,
    subjectNames: deps.customers ? subjectNames(deps.customers.store) : undefined,
    now: deps.now,
  });
  if (deps.customers) {
    mountSubjectRoutes(api, { store: deps.customers.store });
    mountCustomerRoutes(api, {
      store: deps.customers.store,
      customers: deps.customers.service,
      subjects: deps.customers.subjects,
    });
  }
  app.route(METERING_BASE_PATH, api);
  return api;
}
