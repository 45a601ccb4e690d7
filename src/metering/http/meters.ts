import { createRoute, type OpenAPIHono, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { jsonBody, ok, pathParam } from '../../http/openapi.ts';
import { problems } from '../../http/problem.ts';
import type { MeterAdmin } from '../meter-admin.ts';
import type { LiveMeterRegistry } from '../meters.ts';
import type { Meter } from '../model.ts';
import { meteringProblems, openMeterRoute } from './route.ts';
import { MeterCreateSchema, MeterSchema } from './schemas.ts';

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

async function jsonBodyOf(c: Context): Promise<unknown> {
  try {
    return await c.req.json();
  } catch {
    throw problems.badRequest('The body is not valid JSON.');
  }
}

const MeterParam = pathParam('idOrSlug');
const tags = ['Meters'];

/**
 * `GET /api/v1/meters` (`includeDeleted`), `GET /api/v1/meters/{meter}`, and `POST`, `PUT`,
 * `DELETE` for meters created through the API (meter-admin.ts: config meters are read-only here).
 */
export function mountMeterRoutes(
  app: OpenAPIHono,
  deps: { meters: LiveMeterRegistry; admin: MeterAdmin },
): void {
  openMeterRoute(
    app,
    createRoute({
      method: 'get',
      path: '/meters',
      tags,
      summary: 'List meters',
      request: { query: z.object({ includeDeleted: z.enum(['true', 'false']).optional() }) },
      responses: { 200: ok(z.array(MeterSchema), 'Meters'), ...meteringProblems() },
    }),
    (c) => c.json(deps.meters.listAll(c.req.query('includeDeleted') === 'true').map(meterJson)),
  );

  openMeterRoute(
    app,
    createRoute({
      method: 'post',
      path: '/meters',
      tags,
      summary: 'Create a meter',
      description: 'It counts the events already stored.',
      request: { body: jsonBody(MeterCreateSchema) },
      responses: { 201: ok(MeterSchema, 'Created'), ...meteringProblems(409) },
    }),
    async (c) => c.json(meterJson(await deps.admin.create(await jsonBodyOf(c))), 201),
  );

  openMeterRoute(
    app,
    createRoute({
      method: 'put',
      path: '/meters/{idOrSlug}',
      tags,
      summary: 'Change a meter created through the API',
      description:
        "A meter of tollgate.config.ts is refused (409). A changed groupBy rebuilds the meter's values.",
      request: { params: MeterParam, body: jsonBody(MeterCreateSchema) },
      responses: { 200: ok(MeterSchema, 'Changed'), ...meteringProblems(404, 409) },
    }),
    async (c) =>
      c.json(meterJson(await deps.admin.update(c.req.param('idOrSlug') ?? '', await jsonBodyOf(c)))),
  );

  openMeterRoute(
    app,
    createRoute({
      method: 'delete',
      path: '/meters/{idOrSlug}',
      tags,
      summary: 'Delete a meter created through the API',
      description: 'The meter is kept as deleted (its slug stays reserved) and its values are dropped.',
      request: { params: MeterParam },
      responses: { 204: { description: 'Deleted' }, ...meteringProblems(404, 409) },
    }),
    async (c) => {
      await deps.admin.remove(c.req.param('idOrSlug') ?? '');
      return c.body(null, 204);
    },
  );

  openMeterRoute(
    app,
    createRoute({
      method: 'get',
      path: '/meters/{idOrSlug}',
      tags,
      summary: 'Get a meter',
      request: { params: MeterParam },
      responses: { 200: ok(MeterSchema, 'The meter'), ...meteringProblems(404) },
    }),
    (c) => {
      const meter = deps.meters.get(c.req.param('idOrSlug') ?? '');
      if (!meter) throw problems.notFound(`No meter "${c.req.param('idOrSlug')}".`);
      return c.json(meterJson(meter));
    },
  );
}
