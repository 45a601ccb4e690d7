import { createRoute, type OpenAPIHono, z } from '@hono/zod-openapi';
import type { CatalogService } from '../../catalog/index.ts';
import { ok, problemResponses } from '../../http/openapi.ts';
import { problems } from '../../http/problem.ts';
import { FeatureSchema, PlanSchema, PlanVersionSchema, planVersionOut } from '../schemas.ts';
import { KeyParam } from './params.ts';

/** `/api/admin/plans` and `/api/admin/features`: the catalog as published from the config. */
const tags = ['Plans'];

export const listPlansRoute = createRoute({
  method: 'get',
  path: '/plans',
  tags,
  summary: 'List plans',
  responses: {
    200: ok(z.object({ data: z.array(PlanSchema) }), 'Plans in config order'),
    ...problemResponses(401),
  },
});

export const listPlanVersionsRoute = createRoute({
  method: 'get',
  path: '/plans/{key}/versions',
  tags,
  summary: "A plan's published versions",
  request: { params: KeyParam },
  responses: {
    200: ok(z.object({ data: z.array(PlanVersionSchema) }), 'Versions, oldest first'),
    ...problemResponses(401, 404),
  },
});

export const getPlanVersionRoute = createRoute({
  method: 'get',
  path: '/plans/{key}/versions/{version}',
  tags,
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
});

export const listFeaturesRoute = createRoute({
  method: 'get',
  path: '/features',
  tags,
  summary: 'List features',
  responses: {
    200: ok(z.object({ data: z.array(FeatureSchema) }), 'Features'),
    ...problemResponses(401),
  },
});

export function mountPlanRoutes(app: OpenAPIHono, catalog: CatalogService): void {
  app.openapi(listPlansRoute, async (c) => {
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
  });
  app.openapi(listPlanVersionsRoute, async (c) => {
    const { key } = c.req.valid('param');
    if (!(await catalog.getPlan(key))) throw problems.notFound(`No plan "${key}".`);
    return c.json({ data: (await catalog.listPlanVersions(key)).map(planVersionOut) }, 200);
  });
  app.openapi(getPlanVersionRoute, async (c) => {
    const { key, version } = c.req.valid('param');
    const found = await catalog.getPlanVersion(key, version);
    if (!found) throw problems.notFound(`Plan "${key}" has no version ${version}.`);
    return c.json(planVersionOut(found), 200);
  });
  app.openapi(listFeaturesRoute, async (c) => {
    const data = (await catalog.listFeatures()).map((f) => ({
      key: f.key,
      name: f.name,
      description: f.description,
      meter: f.meter,
      meterGroupByFilters: f.meterGroupByFilters,
      archived: f.archivedAt !== null,
    }));
    return c.json({ data }, 200);
  });
}
