import type { Hono } from 'hono';
import { problems } from '../../http/problem.ts';
import type { MeterRegistry } from '../meters.ts';
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
  };
}

/** `GET /api/v1/meters` and `GET /api/v1/meters/{meter}`. */
export function mountMeterRoutes(app: Hono, deps: { meters: MeterRegistry }): void {
  app.get('/api/v1/meters', (c) => c.json(deps.meters.list().map(meterJson)));

  app.get('/api/v1/meters/:idOrSlug', (c) => {
    const meter = deps.meters.get(c.req.param('idOrSlug'));
    if (!meter) throw problems.notFound(`No meter "${c.req.param('idOrSlug')}".`);
    return c.json(meterJson(meter));
  });
}
