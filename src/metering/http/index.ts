import type { Hono } from 'hono';
import { requireAdmin } from '../../admin/auth.ts';
import type { Store } from '../../store/index.ts';
import type { CustomerService } from '../../subscriptions/customers.ts';
import type { CustomerSubjectStore } from '../customer-subjects.ts';
import type { Metering } from '../metering.ts';
import { mountCustomerRoutes } from './customers-api.ts';
import { mountEventRoutes } from './events.ts';
import { mountMeterRoutes } from './meters.ts';
import { mountQueryRoutes } from './query.ts';
import { mountSubjectRoutes } from './subjects.ts';

export type { CustomerSubjects } from './customers.ts';
export { meterJson } from './meters.ts';

/**
 * The OpenMeter-compatible API (same paths, parameters and fields as OpenMeter's `/api/v1`),
 * guarded by the admin token as OpenMeter's API key, so OpenMeter's official clients work
 * unchanged against Tollgate's console listener. docs/openmeter.md lists every endpoint the
 * official SDK calls and how Tollgate serves it.
 */
export function mountMeteringRoutes(
  app: Hono,
  deps: {
    adminToken: string;
    metering: Pick<Metering, 'meters' | 'reader' | 'ingest' | 'admin' | 'listEvents' | 'groupByValues'>;
    /** Tollgate's customers as OpenMeter's (`/api/v1/customers`, `filterCustomerId`). */
    customers?: { store: Store; service: CustomerService; subjects: CustomerSubjectStore };
    now: () => Date;
  },
): void {
  const auth = requireAdmin(deps.adminToken);
  for (const resource of ['events', 'meters', 'subjects', 'customers']) {
    app.use(`/api/v1/${resource}`, auth);
    app.use(`/api/v1/${resource}/*`, auth);
  }
  const { metering } = deps;
  const customers = deps.customers?.subjects;
  mountEventRoutes(app, { ingest: metering.ingest, listEvents: metering.listEvents, customers });
  mountMeterRoutes(app, { meters: metering.meters, admin: metering.admin });
  mountQueryRoutes(app, {
    meters: metering.meters,
    reader: metering.reader,
    groupByValues: metering.groupByValues,
    customers,
    now: deps.now,
  });
  if (deps.customers) {
    mountSubjectRoutes(app, { store: deps.customers.store });
    mountCustomerRoutes(app, {
      store: deps.customers.store,
      customers: deps.customers.service,
      subjects: deps.customers.subjects,
    });
  }
}
