import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { requireAdmin } from '../../admin/auth.ts';
import { jsonBody, ok, pathParam, problemResponses } from '../../http/openapi.ts';
import { validationHook } from '../../http/validation.ts';
import { isMoneyString } from '../../util/money.ts';
import type { Discounts } from './service.ts';

/**
 * Coupons and discounts in the admin API (`/api/admin`, admin token), each route written with
 * `createRoute` so it is in the admin OpenAPI document: create, list, read and archive coupons;
 * apply one to a customer (an operator's redemption), list and remove a customer's discounts.
 */
const Decimal = (example: string) =>
  z
    .string()
    .refine((v) => isMoneyString(v) && Number(v) > 0, 'must be a decimal string above zero')
    .openapi({ example });

const CouponSchema = z
  .object({
    code: z.string().openapi({ example: 'WELCOME20' }),
    name: z.string(),
    percentOff: z.string().nullable().openapi({ example: '20' }),
    amountOff: z.string().nullable(),
    currency: z.string().nullable(),
    duration: z.enum(['once', 'repeating', 'forever']),
    durationPeriods: z.number().int().nullable(),
    rateCardKeys: z.array(z.string()),
    maxRedemptions: z.number().int().nullable(),
    redeemBy: z.string().nullable(),
    timesRedeemed: z.number().int(),
    createdAt: z.string().nullable().openapi({ description: 'Null for a coupon declared in the config' }),
    archivedAt: z.string().nullable(),
    archived: z.boolean(),
    source: z
      .enum(['config', 'store'])
      .openapi({ description: '"config": declared in billing.coupons, changed only there' }),
  })
  .openapi('Coupon');

const CouponCreate = z
  .strictObject({
    code: z.string().min(2).max(40).openapi({ example: 'WELCOME20', description: 'Stored upper case' }),
    name: z.string().min(1).max(100).optional(),
    percentOff: Decimal('20').optional().openapi({ description: 'Percent off ("20" is 20 %); or amountOff' }),
    amountOff: Decimal('10.00')
      .optional()
      .openapi({ description: 'Fixed amount off per period, with currency' }),
    currency: z.string().optional(),
    duration: z.enum(['once', 'repeating', 'forever']).optional(),
    durationPeriods: z.number().int().positive().optional().openapi({ description: 'With "repeating"' }),
    rateCardKeys: z
      .array(z.string().min(1).max(100))
      .max(50)
      .optional()
      .openapi({ description: 'Only these rate cards (any price type); default the whole invoice' }),
    maxRedemptions: z.number().int().positive().optional(),
    redeemBy: z.string().optional().openapi({ description: 'RFC 3339; no redemption at or after it' }),
  })
  .openapi('CouponCreate');

const DiscountSchema = z
  .object({
    id: z.string(),
    couponCode: z.string(),
    customerId: z.string(),
    subscriptionId: z.string().nullable(),
    redeemedAt: z.string(),
    removedAt: z.string().nullable(),
    coupon: CouponSchema.nullable().openapi({
      description: 'Null when its coupon was taken out of the config (the discount applies no more)',
    }),
  })
  .openapi('Discount');

const DiscountCreate = z
  .strictObject({
    code: z.string().min(1).max(40),
    subscriptionId: z
      .string()
      .min(1)
      .max(100)
      .optional()
      .openapi({ description: 'Default: all the customer’s' }),
  })
  .openapi('DiscountCreate');

export function discountRoutes(deps: {
  adminToken: string;
  discounts: Discounts;
  /** The currency a customer's subscription (or the given one) bills in. */
  currencyOf(customerId: string, subscriptionId?: string): Promise<string | null>;
}): OpenAPIHono {
  const { discounts } = deps;
  const app = new OpenAPIHono({ defaultHook: validationHook });
  const admin = requireAdmin(deps.adminToken);
  app.use('/coupons', admin);
  app.use('/coupons/*', admin);
  app.use('/customers/:id/discounts', admin);
  app.use('/discounts/*', admin);
  const tags = ['Coupons'];

  app.openapi(
    createRoute({
      method: 'post',
      path: '/coupons',
      tags,
      summary: 'Create a coupon',
      description: 'A code declared in the config (billing.coupons) is refused with 409.',
      request: { body: jsonBody(CouponCreate) },
      responses: { 201: ok(CouponSchema, 'Created'), ...problemResponses(400, 401, 409) },
    }),
    async (c) => c.json(await discounts.createCoupon(c.req.valid('json')), 201),
  );
  app.openapi(
    createRoute({
      method: 'get',
      path: '/coupons',
      tags,
      summary: 'List coupons',
      responses: {
        200: ok(z.object({ data: z.array(CouponSchema) }), 'Oldest first'),
        ...problemResponses(401),
      },
    }),
    async (c) => c.json({ data: await discounts.listCoupons() }, 200),
  );
  app.openapi(
    createRoute({
      method: 'get',
      path: '/coupons/{code}',
      tags,
      summary: 'Get a coupon',
      request: { params: pathParam('code') },
      responses: { 200: ok(CouponSchema, 'The coupon'), ...problemResponses(401, 404) },
    }),
    async (c) => c.json(await discounts.getCoupon(c.req.valid('param').code), 200),
  );
  app.openapi(
    createRoute({
      method: 'post',
      path: '/coupons/{code}/archive',
      tags,
      summary: 'Archive a coupon',
      description:
        'No new redemptions; discounts already given keep running their course. A coupon declared in the config is archived there (409 here).',
      request: { params: pathParam('code') },
      responses: { 200: ok(CouponSchema, 'Archived'), ...problemResponses(401, 404, 409) },
    }),
    async (c) => c.json(await discounts.archiveCoupon(c.req.valid('param').code), 200),
  );
  app.openapi(
    createRoute({
      method: 'post',
      path: '/customers/{id}/discounts',
      tags,
      summary: 'Apply a coupon to a customer',
      description: 'The operator redeems the coupon for the customer (limits and expiry apply).',
      request: { params: pathParam('id'), body: jsonBody(DiscountCreate) },
      responses: { 201: ok(DiscountSchema, 'Applied'), ...problemResponses(400, 401, 404, 409) },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const body = c.req.valid('json');
      const coupon = await discounts.getCoupon(body.code);
      const currency = (await deps.currencyOf(id, body.subscriptionId)) ?? coupon.currency ?? 'USD';
      const discount = await discounts.redeem({
        code: body.code,
        customerId: id,
        subscriptionId: body.subscriptionId ?? null,
        currency,
      });
      return c.json(discount, 201);
    },
  );
  app.openapi(
    createRoute({
      method: 'get',
      path: '/customers/{id}/discounts',
      tags,
      summary: "A customer's discounts",
      request: { params: pathParam('id') },
      responses: {
        200: ok(z.object({ data: z.array(DiscountSchema) }), 'In redemption order'),
        ...problemResponses(401),
      },
    }),
    async (c) => c.json({ data: await discounts.listForCustomer(c.req.valid('param').id) }, 200),
  );
  app.openapi(
    createRoute({
      method: 'delete',
      path: '/discounts/{id}',
      tags,
      summary: 'Remove a discount',
      description: 'Invoices already issued keep their discount lines; later ones have none.',
      request: { params: pathParam('id') },
      responses: { 200: ok(DiscountSchema, 'Removed'), ...problemResponses(401, 404) },
    }),
    async (c) => c.json(await discounts.remove(c.req.valid('param').id), 200),
  );
  return app;
}
