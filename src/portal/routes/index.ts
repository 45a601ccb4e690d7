import { OpenAPIHono } from '@hono/zod-openapi';
import type { Hono } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { csrfGuard } from '../../http/csrf.ts';
import { ProblemError, problemResponse, problems } from '../../http/problem.ts';
import { loadSession, requireSession } from '../../http/session.ts';
import { validationHook } from '../../http/validation.ts';
import type { SessionInfo } from '../accounts.ts';
import { mountAlertRoutes } from './alerts.ts';
import { createRouteContext, type PortalEnv, type PortalHttpDeps } from './context.ts';
import { mountCreditRoutes } from './credits.ts';
import { portalProblem } from './errors.ts';
import { mountInvoiceRoutes } from './invoices.ts';
import { mountKeyRoutes } from './keys.ts';
import { mountMemberRoutes } from './members.ts';
import { mountPublicRoutes } from './public.ts';
import { mountSessionRoutes } from './sessions.ts';
import { mountSubscriptionRoutes } from './subscription.ts';
import { mountUsageRoutes } from './usage.ts';
import { mountWebhookRoutes } from './webhooks.ts';

export { CSRF_COOKIE, CSRF_HEADER, type PortalHttpDeps, SESSION_COOKIE } from './context.ts';

/**
 * `/api/portal/*`: the portal's JSON API, one file per resource, each route written with
 * `createRoute` so that `GET /api/portal/openapi.json` documents all of them. Sessions live in an
 * HttpOnly SameSite=Lax cookie; every mutating request carries the CSRF token in `x-csrf-token`,
 * bound to the session (or server-signed before log-in; src/http/csrf.ts). Every query is scoped by
 * the session's customer, and ids of other organisations answer 404 exactly as unknown ids do.
 */

/** Paths behind a session (everything but the public pages, sign-up/log-in and invitations). */
const SIGNED_IN = [
  '/me',
  '/members',
  '/members/*',
  '/invitations',
  '/invitations/:id',
  '/keys',
  '/keys/*',
  '/subscription',
  '/subscription/*',
  '/checkout',
  '/checkout/*',
  '/usage',
  '/usage/*',
  '/invoices',
  '/invoices/*',
  '/credits',
  '/credits/*',
  '/alerts',
  '/alerts/*',
  '/spend-cap',
  '/banners',
  '/banners/*',
  '/webhook-deliveries',
  '/webhook-endpoints',
  '/webhook-endpoints/*',
];

export function mountPortal(app: Hono, deps: PortalHttpDeps): void {
  const api = new OpenAPIHono<PortalEnv>({ defaultHook: validationHook });
  const ctx = createRouteContext(deps);

  // Domain errors become problem+json here, at the edge of the portal.
  api.onError((error, c) => {
    const problem =
      error instanceof HTTPException && error.status < 500
        ? problems.badRequest(error.message)
        : portalProblem(error);
    if (problem.status >= 500) deps.log.error({ err: error, path: c.req.path }, 'request failed');
    return problemResponse(problem, c.req.path);
  });

  // A body, when there is one, is JSON (a form or text/plain post is what a cross-site page sends).
  api.use('*', async (c, next) => {
    if (c.req.method === 'POST' || c.req.method === 'PUT') {
      const type = (c.req.header('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
      if (type !== 'application/json' && (await c.req.raw.clone().arrayBuffer()).byteLength > 0) {
        return problemResponse(
          new ProblemError({
            status: 415,
            type: 'unsupported-media-type',
            title: 'Unsupported media type',
            detail: 'Send the body as application/json.',
          }),
          c.req.path,
        );
      }
    }
    return next();
  });
  api.use(
    '*',
    loadSession<SessionInfo>({ ...ctx.cookieOptions, resolve: (token) => deps.auth.session(token) }),
  );
  api.use('*', csrfGuard<SessionInfo>(ctx.csrfOptions));
  const signedIn = requireSession();
  for (const path of SIGNED_IN) {
    api.use(path, async (c, next) => {
      if (c.req.path === '/api/portal/invitations/accept') return next();
      return signedIn(c, next);
    });
  }

  mountPublicRoutes(api, ctx);
  mountSessionRoutes(api, ctx);
  mountMemberRoutes(api, ctx);
  mountKeyRoutes(api, ctx);
  mountSubscriptionRoutes(api, ctx);
  mountUsageRoutes(api, ctx);
  mountInvoiceRoutes(api, ctx);
  mountCreditRoutes(api, ctx);
  mountAlertRoutes(api, ctx);
  mountWebhookRoutes(api, ctx);

  api.doc31('/openapi.json', () => ({
    openapi: '3.1.0',
    info: {
      title: `${deps.config().name} developer portal API`,
      version: '1',
      description:
        'The API behind the developer portal: sign-up and sessions (cookie + x-csrf-token), members, keys, subscription and checkout, usage, invoices, credits, budget alerts. Errors are application/problem+json.',
    },
  }));
  app.route('/api/portal', api);
}
