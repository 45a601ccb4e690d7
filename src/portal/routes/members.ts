import { createRoute, z } from '@hono/zod-openapi';
import { json, type PortalApp, type PortalRouteContext, portalProblems } from './context.ts';
import { email, jsonBody, pathParam } from './schemas.ts';

/** The signed-in user and their organisation's members and invitations (owners invite and remove). */
const tags = ['Members'];

export function mountMemberRoutes(api: PortalApp, ctx: PortalRouteContext): void {
  const { sessionOf, deps } = ctx;
  const { auth } = ctx.deps;
  const { repo } = ctx.deps;

  api.openapi(
    createRoute({
      method: 'get',
      path: '/me',
      tags,
      responses: { 200: json('OK'), ...portalProblems },
    }),
    async (c) => {
      const session = sessionOf(c);
      const customers = deps.ports().customers;
      const org = customers
        ? await customers.get(session.customerId)
        : await repo.organisation(session.customerId);
      return c.json(
        {
          user: session.user,
          organisation: { id: session.customerId, name: org?.name ?? null },
        },
        200,
      );
    },
  );

  api.openapi(
    createRoute({
      method: 'get',
      path: '/members',
      tags,
      responses: { 200: json('OK'), ...portalProblems },
    }),
    async (c) => c.json(await auth.members(sessionOf(c).customerId), 200),
  );

  api.openapi(
    createRoute({
      method: 'post',
      path: '/members/invite',
      tags,
      request: {
        body: jsonBody(z.strictObject({ email, role: z.enum(['owner', 'member']).default('member') })),
      },
      responses: { 201: json('Created'), ...portalProblems },
    }),
    async (c) => {
      const input = c.req.valid('json');
      return c.json(await auth.invite(sessionOf(c), input), 201);
    },
  );

  api.openapi(
    createRoute({
      method: 'delete',
      path: '/members/{id}',
      tags,
      request: { params: pathParam('id') },
      responses: { 204: { description: 'Done' }, ...portalProblems },
    }),
    async (c) => {
      await auth.removeMember(sessionOf(c), c.req.param('id'));
      return c.body(null, 204);
    },
  );

  api.openapi(
    createRoute({
      method: 'delete',
      path: '/invitations/{id}',
      tags,
      request: { params: pathParam('id') },
      responses: { 204: { description: 'Done' }, ...portalProblems },
    }),
    async (c) => {
      await auth.revokeInvitation(sessionOf(c), c.req.param('id'));
      return c.body(null, 204);
    },
  );
}
