import { createRoute, z } from '@hono/zod-openapi';
import { problems } from '../../http/problem.ts';
import type { KeyView } from '../dependencies.ts';
import { json, type PortalApp, type PortalRouteContext, portalProblems } from './context.ts';
import { jsonBody, pathParam } from './schemas.ts';

/** The organisation's API keys: list, create (the secret is shown once), roll, revoke. */
const tags = ['Keys'];

export function mountKeyRoutes(api: PortalApp, ctx: PortalRouteContext): void {
  const { sessionOf, keysPort, deps } = ctx;
  const { clock } = ctx.deps;
  async function ownKey(customerId: string, keyId: string): Promise<KeyView> {
    const key = (await keysPort().list(customerId)).find(
      (k) => k.id === keyId && k.customerId === customerId,
    );
    if (!key) throw problems.notFound('No such API key.');
    return key;
  }

  api.openapi(
    createRoute({
      method: 'get',
      path: '/keys',
      tags,
      responses: { 200: json('OK'), ...portalProblems },
    }),
    async (c) => {
      const customerId = sessionOf(c).customerId;
      const keys = (await keysPort().list(customerId)).filter((k) => k.customerId === customerId);
      return c.json({ keys }, 200);
    },
  );

  api.openapi(
    createRoute({
      method: 'post',
      path: '/keys',
      tags,
      request: {
        body: jsonBody(
          z.strictObject({
            name: z.string().trim().min(1, 'give the key a name').max(80),
            expiresAt: z.iso.datetime({ offset: true }).nullable().optional(),
          }),
        ),
      },
      responses: { 201: json('Created'), ...portalProblems },
    }),
    async (c) => {
      const customerId = sessionOf(c).customerId;
      const input = c.req.valid('json');
      const expiresAt = input.expiresAt ? new Date(input.expiresAt) : null;
      if (expiresAt && expiresAt.getTime() <= clock.now().getTime()) {
        throw problems.validation('expiresAt: must be in the future', [
          { path: 'expiresAt', message: 'must be in the future' },
        ]);
      }
      const subscription = await deps.ports().subscriptions?.current(customerId);
      const created = await keysPort().create(customerId, {
        name: input.name,
        expiresAt,
        subscriptionId: subscription?.id ?? null,
      });
      return c.json(created, 201);
    },
  );

  api.openapi(
    createRoute({
      method: 'post',
      path: '/keys/{id}/roll',
      tags,
      request: { params: pathParam('id') },
      responses: { 201: json('Created'), ...portalProblems },
    }),
    async (c) => {
      const customerId = sessionOf(c).customerId;
      await ownKey(customerId, c.req.param('id'));
      return c.json(await keysPort().roll(customerId, c.req.param('id')), 201);
    },
  );

  api.openapi(
    createRoute({
      method: 'delete',
      path: '/keys/{id}',
      tags,
      request: { params: pathParam('id') },
      responses: { 204: { description: 'Done' }, ...portalProblems },
    }),
    async (c) => {
      const customerId = sessionOf(c).customerId;
      await ownKey(customerId, c.req.param('id'));
      await keysPort().revoke(customerId, c.req.param('id'));
      return c.body(null, 204);
    },
  );
}
