import { createRoute } from '@hono/zod-openapi';
import { problems } from '../../http/problem.ts';
import { json, type PortalApp, type PortalRouteContext, portalProblems } from './context.ts';

/** The public pages' data: branding and services (`/config`, which also issues the CSRF token), the API's own OpenAPI document, the public plans, and the dev mailbox (only under `tollgate dev`). */
const tags = ['Public'];

export function mountPublicRoutes(api: PortalApp, ctx: PortalRouteContext): void {
  const { devMailboxOpen, plansNow, deps } = ctx;

  api.openapi(
    createRoute({
      method: 'get',
      path: '/config',
      tags,
      responses: { 200: json('OK'), ...portalProblems },
    }),
    (c) => {
      const config = deps.config();
      const ports = deps.ports();
      const csrfToken = c.get('csrfToken');
      return c.json(
        {
          name: config.portal.branding.name ?? config.name,
          apiName: config.name,
          branding: {
            name: config.portal.branding.name ?? config.name,
            logoUrl: config.portal.branding.logoUrl ?? null,
            primaryColor: config.portal.branding.primaryColor,
          },
          gatewayUrl: config.gateway.publicUrl ?? deps.gatewayUrl(),
          rail: ports.billing?.rail ?? null,
          railName: ports.billing?.railName ?? ports.billing?.rail ?? null,
          devMailbox: devMailboxOpen(),
          hasOpenapi: Boolean(config.openapiDocument),
          services: {
            keys: Boolean(ports.keys),
            subscriptions: Boolean(ports.subscriptions),
            usage: Boolean(ports.meter),
            billing: Boolean(ports.billing),
          },
          csrfToken,
        },
        200,
      );
    },
  );

  api.openapi(
    createRoute({
      method: 'get',
      path: '/openapi',
      tags,
      responses: { 200: json('OK'), ...portalProblems },
    }),
    (c) => {
      const doc = deps.config().openapiDocument;
      if (!doc)
        throw problems.notFound('This installation has no OpenAPI document (set `openapi` in the config).');
      return c.json(doc, 200);
    },
  );

  api.openapi(
    createRoute({
      method: 'get',
      path: '/plans',
      tags,
      responses: { 200: json('OK'), ...portalProblems },
    }),
    async (c) => c.json({ plans: await plansNow() }, 200),
  );

  api.openapi(
    createRoute({
      method: 'get',
      path: '/dev/mailbox',
      tags,
      summary: 'Dev mailbox: only while no SMTP server is configured (mail is printed and kept here).',
      responses: { 200: json('OK'), ...portalProblems },
    }),
    async (c) => {
      if (!devMailboxOpen())
        throw problems.notFound(
          'The dev mailbox exists only under `tollgate dev`, without SMTP, on a loopback address.',
        );
      const to = c.req.query('to') ?? null;
      return c.json({ messages: await deps.mailer.list(to) }, 200);
    },
  );
}
