import { createRoute, z } from '@hono/zod-openapi';
import { problems } from '../../http/problem.ts';
import { json, type PortalApp, type PortalRouteContext, portalProblems, unavailable } from './context.ts';
import { cardDeclined } from './errors.ts';
import { cardSchema, jsonBody } from './schemas.ts';

/** The subscription and checkout: subscribe (free plans directly, paid ones through the payment rail), preview and change the plan, cancel and resume. */
const tags = ['Subscription'];

export function mountSubscriptionRoutes(api: PortalApp, ctx: PortalRouteContext): void {
  const { sessionOf, ownerOf, subsPort, billingPort, plansNow, deps } = ctx;
  async function planOrThrow(planKey: string) {
    const plan = (await plansNow()).find((p) => p.key === planKey);
    if (!plan) throw problems.notFound(`No public plan "${planKey}".`);
    return plan;
  }
  async function ownSubscription(customerId: string, subscriptionId?: string) {
    const current = await subsPort().current(customerId);
    if (!current || current.customerId !== customerId || (subscriptionId && current.id !== subscriptionId)) {
      throw problems.notFound('No such subscription.');
    }
    return current;
  }
  async function firstKey(customerId: string, subscriptionId: string) {
    const keys = deps.ports().keys;
    if (!keys) return null;
    const existing = (await keys.list(customerId)).filter((k) => k.status !== 'revoked');
    if (existing.length > 0) return null;
    return keys.create(customerId, { name: 'Default key', expiresAt: null, subscriptionId });
  }

  api.openapi(
    createRoute({
      method: 'get',
      path: '/subscription',
      tags,
      responses: { 200: json('OK'), ...portalProblems },
    }),
    async (c) => {
      const customerId = sessionOf(c).customerId;
      const subs = deps.ports().subscriptions;
      if (!subs) return c.json({ available: false, subscription: null, balances: [] }, 200);
      const [subscription, balances] = await Promise.all([
        subs.current(customerId),
        subs.balances(customerId),
      ]);
      return c.json({ available: true, subscription, balances }, 200);
    },
  );

  api.openapi(
    createRoute({
      method: 'post',
      path: '/checkout',
      tags,
      request: {
        body: jsonBody(
          z.strictObject({
            planKey: z.string().min(1),
            card: cardSchema.optional(),
            coupon: z.string().trim().max(40).optional(),
          }),
        ),
      },
      responses: { 200: json('OK'), 201: json('Created'), ...portalProblems },
    }),
    async (c) => {
      const customerId = ownerOf(c);
      const input = c.req.valid('json');
      const plan = await planOrThrow(input.planKey);
      const existing = await deps.ports().subscriptions?.current(customerId);
      if (existing && existing.status !== 'canceled') {
        throw problems.conflict(
          'You already have a subscription; change its plan on the Subscription page.',
          {
            subscriptionId: existing.id,
          },
        );
      }
      const origin = deps.config().console.publicUrl ?? new URL(c.req.url).origin;
      // Free plans need no payment method: subscribe directly.
      if (plan.free) {
        const subscription = await subsPort().subscribe(customerId, plan.key);
        const key = await firstKey(customerId, subscription.id);
        return c.json({ status: 'active', subscription, invoiceId: null, firstKey: key }, 201);
      }
      const result = await billingPort().checkout(customerId, {
        planKey: plan.key,
        card: input.card,
        ...(input.coupon ? { coupon: input.coupon } : {}),
        successUrl: `${origin}/checkout/complete?plan=${encodeURIComponent(plan.key)}`,
        cancelUrl: `${origin}/pricing`,
      });
      if (result.status === 'declined') {
        throw cardDeclined(result.message);
      }
      if (result.status === 'redirect') return c.json(result, 200);
      await deps.budget.evaluate(customerId).catch(() => undefined);
      const key = await firstKey(customerId, result.subscription.id);
      return c.json({ ...result, firstKey: key }, 201);
    },
  );

  api.openapi(
    createRoute({
      method: 'post',
      path: '/checkout/coupon',
      tags,
      summary: 'The coupon field: what checkout will charge today with this code, before paying.',
      request: {
        body: jsonBody(
          z.strictObject({ planKey: z.string().min(1).max(100), code: z.string().trim().min(1).max(40) }),
        ),
      },
      responses: { 200: json('OK'), ...portalProblems },
    }),
    async (c) => {
      const customerId = ownerOf(c);
      const input = c.req.valid('json');
      const plan = await planOrThrow(input.planKey);
      const billing = billingPort();
      if (!billing.quoteCheckout) throw unavailable('Coupons');
      return c.json(
        {
          code: input.code.toUpperCase(),
          ...(await billing.quoteCheckout(customerId, plan.key, input.code)),
        },
        200,
      );
    },
  );

  api.openapi(
    createRoute({
      method: 'post',
      path: '/checkout/complete',
      tags,
      summary: 'After a Stripe Checkout redirect: the subscription is active once the webhook arrived.',
      responses: { 200: json('OK'), ...portalProblems },
    }),
    async (c) => {
      const customerId = sessionOf(c).customerId;
      const subscription = await subsPort().current(customerId);
      if (!subscription || subscription.status === 'canceled') return c.json({ status: 'pending' }, 200);
      return c.json(
        {
          status: 'active',
          subscription,
          firstKey: await firstKey(customerId, subscription.id),
        },
        200,
      );
    },
  );

  api.openapi(
    createRoute({
      method: 'post',
      path: '/subscription/preview',
      tags,
      request: { body: jsonBody(z.strictObject({ planKey: z.string().min(1) })) },
      responses: { 200: json('OK'), ...portalProblems },
    }),
    async (c) => {
      const customerId = sessionOf(c).customerId;
      const input = c.req.valid('json');
      await planOrThrow(input.planKey);
      const current = await ownSubscription(customerId);
      return c.json(await billingPort().previewChange(customerId, current.id, input.planKey), 200);
    },
  );

  api.openapi(
    createRoute({
      method: 'post',
      path: '/subscription/change',
      tags,
      request: {
        body: jsonBody(z.strictObject({ planKey: z.string().min(1), subscriptionId: z.string().optional() })),
      },
      responses: { 200: json('OK'), ...portalProblems },
    }),
    async (c) => {
      const customerId = ownerOf(c);
      const input = c.req.valid('json');
      await planOrThrow(input.planKey);
      const current = await ownSubscription(customerId, input.subscriptionId);
      const result = await subsPort().changePlan(customerId, current.id, input.planKey);
      return c.json(result, 200);
    },
  );

  // Cancel at period end, and take that back: the same body, the same owner check.
  for (const action of ['cancel', 'resume'] as const) {
    api.openapi(
      createRoute({
        method: 'post',
        path: `/subscription/${action}`,
        tags,
        request: { body: jsonBody(z.strictObject({ subscriptionId: z.string().optional() })) },
        responses: { 200: json('OK'), ...portalProblems },
      }),
      async (c) => {
        const customerId = ownerOf(c);
        const input = c.req.valid('json');
        const current = await ownSubscription(customerId, input.subscriptionId);
        return c.json({ subscription: await subsPort()[action](customerId, current.id) }, 200);
      },
    );
  }
}
