import { z } from 'zod';
import { isMoneyString } from '../../util/money.ts';

/**
 * Coupons and discounts, as Stripe has them (stripe-node `types/Coupons.d.ts`: `percent_off` or
 * `amount_off` + `currency`, `duration` once / repeating (`duration_in_months`) / forever,
 * `max_redemptions`, `redeem_by`, `applies_to.products`) and Lago (`coupon_type` percentage /
 * fixed_amount, `frequency` once / recurring / forever, `limited_plans` / billable metrics).
 * Tollgate counts `repeating` in billing periods of the subscription (`durationPeriods`), since
 * its cadences are not all monthly, and scopes a coupon to rate card keys (any price type).
 */
export type CouponDuration = 'once' | 'repeating' | 'forever';

export interface Coupon {
  code: string;
  name: string;
  percentOff: string | null;
  amountOff: string | null;
  currency: string | null;
  duration: CouponDuration;
  durationPeriods: number | null;
  /** Empty: the whole invoice. */
  rateCardKeys: string[];
  maxRedemptions: number | null;
  redeemBy: string | null;
  timesRedeemed: number;
  /** Null for a config coupon (it has no creation in the store). */
  createdAt: string | null;
  archivedAt: string | null;
  /** No new redemptions (archived through the admin API, or `archived: true` in the config). */
  archived: boolean;
  /**
   * `config`: declared in tollgate.config.ts (`billing.coupons`), read from the live config and
   * changed only there; `store`: created through the admin API or the CLI.
   */
  source: 'config' | 'store';
}

/** A coupon redeemed by a customer (for one subscription, or all of theirs), as stored. */
export interface StoredDiscount {
  id: string;
  couponCode: string;
  customerId: string;
  subscriptionId: string | null;
  redeemedAt: string;
  removedAt: string | null;
}

/**
 * A discount with its coupon's terms. The coupon is null when it was declared in the config and
 * has since been taken out of it: the discount then applies no more.
 */
export interface Discount extends StoredDiscount {
  coupon: Coupon | null;
}

const positiveDecimal = (what: string) =>
  z
    .string()
    .refine(
      (v) => isMoneyString(v) && Number(v) > 0,
      `${what} must be a decimal string above zero, e.g. "20"`,
    );

/** A coupon's fields, as the admin API and the config (`billing.coupons`) both take them. */
const couponFields = {
  code: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9_-]{1,39}$/, 'use 2–40 letters, digits, "_" or "-" (e.g. "WELCOME20")')
    .transform((c) => c.toUpperCase()),
  name: z.string().min(1).max(100).optional(),
  percentOff: positiveDecimal('percentOff')
    .refine((v) => !isMoneyString(v) || Number(v) <= 100, 'percentOff is at most "100"')
    .optional(),
  amountOff: positiveDecimal('amountOff').optional(),
  currency: z
    .string()
    .regex(/^[A-Z]{3}$/, 'must be an ISO 4217 code such as "USD"')
    .optional(),
  duration: z.enum(['once', 'repeating', 'forever']).default('once'),
  durationPeriods: z.number().int().positive().max(1200).optional(),
  rateCardKeys: z.array(z.string().min(1).max(100)).max(50).default([]),
  maxRedemptions: z.number().int().positive().optional(),
  redeemBy: z.iso.datetime({ offset: true }).optional(),
};

type CouponFields = {
  percentOff?: string;
  amountOff?: string;
  currency?: string;
  duration: string;
  durationPeriods?: number;
};

/** Rules across fields, each issue on the field to fix. */
function couponRules(c: CouponFields, ctx: z.RefinementCtx): void {
  if ((c.percentOff === undefined) === (c.amountOff === undefined)) {
    ctx.addIssue({ code: 'custom', path: ['percentOff'], message: 'give either percentOff or amountOff' });
  }
  if (c.amountOff !== undefined && !c.currency) {
    ctx.addIssue({ code: 'custom', path: ['currency'], message: 'a fixed amount needs its currency' });
  }
  if (c.percentOff !== undefined && c.currency) {
    ctx.addIssue({ code: 'custom', path: ['currency'], message: 'a percentage coupon has no currency' });
  }
  if ((c.duration === 'repeating') !== (c.durationPeriods !== undefined)) {
    ctx.addIssue({
      code: 'custom',
      path: ['durationPeriods'],
      message: 'durationPeriods is required with duration "repeating", and only then',
    });
  }
}

export const couponInputSchema = z.strictObject(couponFields).superRefine(couponRules);

/**
 * A coupon declared in the config: the admin API's fields, and `archived` to stop new
 * redemptions while the discounts already given run their course (taking the coupon out of the
 * config ends them).
 */
export const configCouponSchema = z
  .strictObject({ ...couponFields, archived: z.boolean().default(false) })
  .superRefine(couponRules);

export type ConfigCoupon = z.output<typeof configCouponSchema>;

export type CouponInput = z.input<typeof couponInputSchema>;

/** Why a coupon cannot be redeemed or created; the HTTP edge maps kinds to problems. */
export type DiscountErrorKind = 'not_found' | 'conflict' | 'invalid' | 'exhausted';

export class DiscountError extends Error {
  readonly kind: DiscountErrorKind;
  readonly field: string;
  constructor(kind: DiscountErrorKind, message: string, field = 'code') {
    super(message);
    this.kind = kind;
    this.field = field;
  }
}
