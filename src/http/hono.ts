import { Hono } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { Logger } from '../util/log.ts';
import { problemResponse, problems, toProblem } from './problem.ts';

/**
 * The one place that turns thrown errors into `application/problem+json` for the console
 * listener (admin, portal and metering APIs). Handlers throw `ProblemError`s.
 */
export function createConsoleApp(log: Logger): Hono {
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
  return app;
}
