import { createRoute } from '@hono/zod-openapi';
import { problems } from '../../http/problem.ts';
import { usageRange, usageWindow } from '../usage-range.ts';
import { json, type PortalApp, type PortalRouteContext, portalProblems } from './context.ts';

/** Usage of the organisation from its meters (the subject is always the session's customer) and the cost-to-date summary. */
const tags = ['Usage'];

export function mountUsageRoutes(api: PortalApp, ctx: PortalRouteContext): void {
  const { sessionOf, deps } = ctx;
  const { repo } = ctx.deps;
  const { clock } = ctx.deps;

  api.openapi(
    createRoute({
      method: 'get',
      path: '/usage',
      tags,
      responses: { 200: json('OK'), ...portalProblems },
    }),
    async (c) => {
      const customerId = sessionOf(c).customerId;
      const meter = deps.ports().meter;
      const config = deps.config();
      const meters = config.meters.map((m) => ({
        slug: m.slug,
        name: m.name ?? m.slug,
        groupBy: Object.keys(m.groupBy),
      }));
      if (!meter) return c.json({ available: false, meters, data: [] }, 200);
      const slug = c.req.query('meter') ?? meters[0]?.slug;
      const def = config.meters.find((m) => m.slug === slug);
      if (!def) throw problems.notFound(`No meter "${slug}".`);
      const windowSize = usageWindow(c.req.query('window'));
      const groupBy = (c.req.query('groupBy') ?? '').split(',').filter((g) => g && g in def.groupBy);
      const { from, to } = usageRange(
        { from: c.req.query('from'), to: c.req.query('to') },
        windowSize,
        clock.now(),
      );
      // Always the session's customer (its subject keys): nobody reads another organisation's usage.
      const result = await meter.query({
        meterSlug: def.slug,
        from,
        to,
        windowSize,
        customer: customerId,
        groupBy,
      });
      return c.json(
        {
          available: true,
          meters,
          meter: def.slug,
          windowSize,
          from: from.toISOString(),
          data: result.data,
        },
        200,
      );
    },
  );

  api.openapi(
    createRoute({
      method: 'get',
      path: '/usage/summary',
      tags,
      responses: { 200: json('OK'), ...portalProblems },
    }),
    async (c) => {
      const customerId = sessionOf(c).customerId;
      const subs = deps.ports().subscriptions;
      const [balances, cost, cap, subscription] = await Promise.all([
        subs ? subs.balances(customerId) : Promise.resolve(null),
        deps.budget.cost(customerId).catch(() => null),
        repo.spendCap(customerId),
        subs ? subs.current(customerId) : Promise.resolve(null),
      ]);
      return c.json(
        {
          balances,
          cost,
          spendCap: cap,
          capReached: deps.budget.checkSpendCap(customerId) !== null,
          subscription,
        },
        200,
      );
    },
  );
}
