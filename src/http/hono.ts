import { Hono } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { CONSOLE_LIMIT_DEFAULTS } from '../config/schema.ts';
import type { Logger } from '../util/log.ts';
import { type BodyLimits, bodyGuard } from './body-limit.ts';
import { problemResponse, problems, toProblem } from './problem.ts';

/**
 * The console listener's app (admin, portal, metering and billing APIs): the one place that turns
 * thrown errors into `application/problem+json` (handlers throw `ProblemError`s), and the body
 * guard every route sits behind (size per route and JSON depth, from `console.limits`).
 */
export interface ConsoleAppOptions {
  /** Read per request, so a reloaded config applies at once. Default: the config's defaults. */
  limits?: () => BodyLimits;
}

export const DEFAULT_BODY_LIMITS: BodyLimits = {
  defaultBytes: CONSOLE_LIMIT_DEFAULTS.bodyBytes,
  routes: CONSOLE_LIMIT_DEFAULTS.bodyBytesByRoute,
  jsonDepth: CONSOLE_LIMIT_DEFAULTS.jsonDepth,
};

export function createConsoleApp(log: Logger, options: ConsoleAppOptions = {}): Hono {
  const app = new Hono();
  app.onError((error, c) => {
    if (error instanceof HTTPException && error.status < 500) {
      return problemResponse(problems.badRequest(error.message), c.req.path);
    }
    const problem = toProblem(error);
    if (problem.status >= 500) log.error({ err: error, path: c.req.path }, 'request failed');
    return problemResponse(problem, c.req.path);
  });
  app.notFound((c) =>
    problemResponse(problems.notFound(`No route for ${c.req.method} ${c.req.path}`), c.req.path),
  );
  app.use('*', bodyGuard(options.limits ?? (() => DEFAULT_BODY_LIMITS)));
  return app;
}
