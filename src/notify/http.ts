import type { Hono } from 'hono';
import { z } from 'zod';
import { requireAdmin } from '../admin/auth.ts';
import { problems } from '../http/problem.ts';
import type { Mailer } from './mail.ts';
import { WEBHOOK_EVENT_TYPES, type WebhookService } from './webhooks.ts';

/** `/api/admin/webhooks/*`: event types, endpoints (create shows the `whsec_…` secret), delivery log; dev mailbox. */
export function mountNotifyRoutes(
  app: Hono,
  deps: { webhooks: WebhookService; mailer: Mailer; adminToken: string },
): void {
  const { webhooks, mailer } = deps;
  const admin = requireAdmin(deps.adminToken);
  app.use('/api/admin/webhooks/*', admin);
  app.use('/api/admin/mailbox', admin);

  app.get('/api/admin/webhooks/event-types', (c) => c.json({ data: WEBHOOK_EVENT_TYPES }));
  app.get('/api/admin/webhooks/endpoints', async (c) => c.json({ data: await webhooks.listEndpoints() }));
  app.post('/api/admin/webhooks/endpoints', async (c) => {
    let body: unknown;
    try {
      body = await c.req.json();
    } catch {
      throw problems.badRequest('The body must be JSON.');
    }
    const parsed = z
      .strictObject({
        url: z.url(),
        eventTypes: z.array(z.string().regex(/^[a-z_]+(\.[a-z_*]+)*$|^\*$/)).default([]),
        description: z.string().optional(),
        secret: z.string().startsWith('whsec_').optional(),
      })
      .safeParse(body);
    if (!parsed.success) {
      throw problems.validation(
        'The webhook endpoint is invalid.',
        parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })),
      );
    }
    return c.json(await webhooks.createEndpoint(parsed.data), 201);
  });
  app.delete('/api/admin/webhooks/endpoints/:id', async (c) => {
    await webhooks.deleteEndpoint(c.req.param('id'));
    return c.body(null, 204);
  });
  app.get('/api/admin/webhooks/deliveries', async (c) => {
    const status = c.req.query('status');
    if (status && !['pending', 'succeeded', 'failed'].includes(status)) {
      throw problems.badRequest('status must be pending, succeeded or failed.');
    }
    return c.json({
      data: await webhooks.deliveries({
        endpointId: c.req.query('endpointId'),
        status: status as 'pending' | 'succeeded' | 'failed' | undefined,
      }),
    });
  });
  app.get('/api/admin/mailbox', async (c) =>
    c.json({ data: await mailer.mailbox({ to: c.req.query('to') }) }),
  );
}
