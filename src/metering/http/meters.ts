import type { Context, Hono } from 'hono';
import { problems } from '../../http/problem.ts';
import type { MeterAdmin } from '../meter-admin.ts';
import type { LiveMeterRegistry } from '../meters.ts';
import type { Meter } from '../model.ts';

/** A meter as OpenMeter's API shows it (`Meter` in api/openapi.yaml). */
export function meterJson(meter: Meter) {
  return {
    id: meter.id,
    slug: meter.slug,
    name: meter.name,
    ...(meter.description ? { description: meter.description } : {}),
    aggregation: meter.aggregation,
    eventType: meter.eventType,
    ...(meter.valueProperty ? { valueProperty: meter.valueProperty } : {}),
    groupBy: { ...meter.groupBy },
    createdAt: meter.createdAt.toISOString(),
    updatedAt: meter.updatedAt.toISOString(),
    ...(meter.deletedAt ? { deletedAt: meter.deletedAt.toISOString() } : {}),
  };
}

async function jsonBody(c: Context): Promise<unknown> {
  try {
    return await c.req.json();
  } catch {
    throw problems.badRequest('The body is not valid JSON.');
  }
}

/**
 * `GET /api/v1/meters` (`includeDeleted`), `GET /api/v1/meters/{meter}`, and `POST`, `PUT`,
 * `DELETE` for meters created through the API (meter-admin.ts: config meters are read-only here).
 */
export function mountMeterRoutes(app: Hono, deps: { meters: LiveMeterRegistry; admin: MeterAdmin }): void {
  app.get('/api/v1/meters', (c) =>
    c.json(deps.meters.listAll(c.req.query('includeDeleted') === 'true').map(meterJson)),
  );

  app.post('/api/v1/meters', async (c) => c.json(meterJson(await deps.admin.create(await jsonBody(c))), 201));

  app.put('/api/v1/meters/:idOrSlug', async (c) =>
    c.json(meterJson(await deps.admin.update(c.req.param('idOrSlug'), await jsonBody(c)))),
  );

  app.delete('/api/v1/meters/:idOrSlug', async (c) => {
    await deps.admin.remove(c.req.param('idOrSlug'));
    return c.body(null, 204);
  });

  app.get('/api/v1/meters/:idOrSlug', (c) => {
    const meter = deps.meters.get(c.req.param('idOrSlug'));
    if (!meter) throw problems.notFound(`No meter "${c.req.param('idOrSlug')}".`);
    return c.json(meterJson(meter));
  });
}
