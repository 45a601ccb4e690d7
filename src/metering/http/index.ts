import type { Hono } from 'hono';
import { requireAdmin } from '../../admin/auth.ts';
import type { Metering } from '../index.ts';
import type { CustomerSubjects } from './customers.ts';
import { mountEventRoutes } from './events.ts';
import { mountMeterRoutes } from './meters.ts';
import { mountQueryRoutes } from './query.ts';

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
    metering: Pick<Metering, 'meters' | 'reader' | 'ingest' | 'listEvents' | 'groupByValues'>;
    customers?: CustomerSubjects;
    now: () => Date;
  },
): void {
  const auth = requireAdmin(deps.adminToken);
  for (const path of ['/api/v1/events', '/api/v1/meters', '/api/v1/meters/*']) app.use(path, auth);
  const { metering, customers } = deps;
  mountEventRoutes(app, { ingest: metering.ingest, listEvents: metering.listEvents, customers });
  mountMeterRoutes(app, { meters: metering.meters });
  mountQueryRoutes(app, {
    meters: metering.meters,
    reader: metering.reader,
    groupByValues: metering.groupByValues,
    customers,
    now: deps.now,
  });
}
