import type { OpenAPIHono, RouteConfig } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { problemResponses } from '../../http/openapi.ts';

/**
 * Mounts one route of OpenMeter's API: `route` (from `createRoute`) puts it in
 * `/api/v1/openapi.json` with its parameters, body and answers; the handler reads the query string
 * and body itself. OpenMeter's answers differ from what zod-openapi's validators would give, and
 * OpenMeter's clients depend on them: a wrong content type on ingest is 400, not 415
 * (openmeter/ingest/httpdriver/errors.go); a body is read as JSON whatever its content type; a
 * query repeats `subject` and spells filters `filterGroupBy[key]` (mapping.go). So only path
 * parameters are validated by the route; the handlers check the rest against the same schemas
 * (schemas.ts) and answer 400 problem+json naming the field.
 */
export function openMeterRoute(
  app: OpenAPIHono,
  route: RouteConfig,
  handler: (c: Context) => Response | Promise<Response>,
): void {
  app.openAPIRegistry.registerPath(route);
  const params = route.request?.params;
  app.openapi({ ...route, hide: true, request: params ? { params } : {} }, handler as never);
}

/** The problem answers every metering route can give: bad input and a missing or wrong token. */
export const meteringProblems = (...more: (404 | 409)[]) => problemResponses(400, 401, ...more);
