import { z } from 'zod';
import { configCouponSchema } from '../../billing/discounts/model.ts';
import type { PricingHook } from '../types.ts';
import { fn } from './primitives.ts';

/** `billing`: the payment rail, tax, dunning and coupons. */

export const billingSchema = z
  .strictObject({
    rail: z
      .union([
        z.literal('sandbox'),
        z.literal('invoice'),
        z.strictObject({
          type: z.literal('stripe'),
          secretKey: z.string().min(1),
          webhookSecret: z.string().min(1),
          /** For tests and proxies: where the Stripe API is. */
          apiBase: z.url().optional(),
        }),
        z.strictObject({
          type: z.literal('paddle'),
          apiKey: z.string().min(1),
          /** The notification destination's secret key (`pdl_ntfset_…`). */
          webhookSecret: z.string().min(1),
          /** For tests and proxies: where the Paddle API is (default: by the key, sandbox or live). */
          apiBase: z.url().optional(),
        }),
        z.strictObject({
          type: z.literal('recurly'),
          /** A private API key of the Recurly site. */
          apiKey: z.string().min(1),
          /** The webhook endpoint's secret key (verifies `recurly-signature`). */
          webhookSecret: z.string().min(1),
          /** The site's subdomain (`acme` for acme.recurly.com): where its hosted pages are. */
          subdomain: z.string().regex(/^[a-z0-9-]+$/, 'the site subdomain, e.g. "acme"'),
          region: z.enum(['us', 'eu']).optional(),
          /** For tests and proxies: where the Recurly API is (default: by region). */
          apiBase: z.url().optional(),
        }),
        z.strictObject({ type: z.literal('sandbox') }),
        z.strictObject({ type: z.literal('invoice'), netDays: z.number().int().positive().default(30) }),
      ])
      .default('sandbox'),
    taxRate: z
      .string()
      .regex(/^\d+(\.\d+)?$/, 'tax rate must be a decimal string such as "0.20"')
      .optional(),
    /** Days after a failed payment before the subscription is suspended. */
    gracePeriodDays: z.number().int().nonnegative().default(7),
    /** Dunning: days after the first failed payment on which it is retried (empty: no retries). */
    retryDays: z
      .array(z.number().int('must be a whole number of days').positive('must be at least 1 day'))
      .superRefine((days, ctx) => {
        days.forEach((day, i) => {
          const before = days[i - 1];
          if (before !== undefined && day <= before) {
            ctx.addIssue({
              code: 'custom',
              path: [i],
              message: `retry days must be strictly increasing (${day} comes after ${before})`,
            });
          }
        });
      })
      .default([1, 3, 5]),
    pricing: fn<PricingHook>('pricing hook').optional(),
    /**
     * Coupon codes reviewed with the code: the admin API's coupon fields. Read from the live
     * config (never copied to the store, nor editable through the API); redemptions are counted
     * in the store. A code may not also be a coupon created through the admin API.
     */
    coupons: z.array(configCouponSchema).default([]),
  })
  .default({ rail: 'sandbox', gracePeriodDays: 7, retryDays: [1, 3, 5], coupons: [] });
