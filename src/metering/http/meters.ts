import { createRoute, type OpenAPIHono, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { jsonBody, ok, pathParam } from '../../http/openapi.ts';
import { problems } from '../../http/problem.ts';
import type { MeterAdmin } from '../meter-admin.ts';
import type { LiveMeterRegistry } from '../meters.ts';
import type { Meter } from '../model.ts';
import { meteringProblems, openMeterRoute } from './route.ts';
import { MeterCreateSchema, MeterSchema } from './schemas.ts';

/**
 * A meter as OpenMeter's API shows it (`ToAPIMeter` in openmeter/meter/httphandler/mapping.go:
 * `groupBy` only when the meter has one).
 */
export function meterJson(meter: Meter) {
  return {
    id: meter.id,
    slug: meter.slug,
    name: meter.name,
    ...(meter.description ? { description: meter.description } : {}),
    aggregation: meter.aggregation,
    eventType: meter.eventType,
    ...(meter.valueProperty ? { valueProperty: meter.valueProperty } : {}),
    ...(Object.keys(meter.groupBy).length > 0 ? { groupBy: { ...meter.groupBy } } : {}),
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

const ORDER_BY = ['key', 'name', 'aggregation', 'createdAt', 'updatedAt'] as const;

/**
 * `GET /api/v1/meters` as OpenMeter's ListMeters (openmeter/meter/httphandler/meter.go):
 * `includeDeleted`, `orderBy` key | name | aggregation | createdAt | updatedAt (default key, the
 * slug) and `order` ASC | DESC (default ASC); ties by slug.
 */
function listMeters(meters: LiveMeterRegistry, q: URLSearchParams): Meter[] {
  const includeDeleted = q.get('includeDeleted') ?? 'false';
  const orderBy = q.get('orderBy') ?? 'key';
  const order = q.get('order') ?? 'ASC';
  const refuse = (path: string, message: string) => {
    throw problems.validation(`Invalid ${path}: ${message}.`, [{ path, message }]);
  };
  if (includeDeleted !== 'true' && includeDeleted !== 'false')
    refuse('includeDeleted', 'must be true or false');
  if (!(ORDER_BY as readonly string[]).includes(orderBy))
    refuse('orderBy', `must be one of ${ORDER_BY.join(', ')}`);
  if (order !== 'ASC' && order !== 'DESC') refuse('order', 'must be ASC or DESC');
  const field = (m: Meter): string | number =>
    orderBy === 'name'
      ? m.name
      : orderBy === 'aggregation'
        ? m.aggregation
        : orderBy === 'createdAt'
          ? m.createdAt.getTime()
          : orderBy === 'updatedAt'
            ? m.updatedAt.getTime()
            : m.slug;
  const sign = order === 'DESC' ? -1 : 1;
  const compare = (a: string | number, b: string | number) => (a < b ? -1 : a > b ? 1 : 0);
  return [...meters.listAll(includeDeleted === 'true')].sort(
    (a, b) => sign * (compare(field(a), field(b)) || compare(a.slug, b.slug)),
  );
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
      description: 'Ordered by slug unless `orderBy` says otherwise.',
      request: {
        query: z.object({
          includeDeleted: z.enum(['true', 'false']).optional(),
          orderBy: z.enum(ORDER_BY).optional().openapi({ description: 'Default key (the slug)' }),
          order: z.enum(['ASC', 'DESC']).optional().openapi({ description: 'Default ASC' }),
        }),
      },
      responses: { 200: ok(z.array(MeterSchema), 'Meters'), ...meteringProblems() },
    }),
    (c) => c.json(listMeters(deps.meters, new URL(c.req.url).searchParams).map(meterJson)),
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
      // 200, as OpenMeter's CreateMeter answers (openmeter/meter/httphandler/meter.go; its
      // api/openapi.yaml says 201, and its code is what clients see).
      responses: { 200: ok(MeterSchema, 'Created'), ...meteringProblems(409) },
    }),
    async (c) => c.json(meterJson(await deps.admin.create(await jsonBodyOf(c))), 200),
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
