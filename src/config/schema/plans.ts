import { z } from 'zod';
import { parseIsoDuration } from '../../util/duration.ts';
import { Decimal, isMoneyString } from '../../util/money.ts';
import { priceSchema } from './prices.ts';
import { isoDuration, money, slug, window } from './primitives.ts';

/** Plans: entitlements, rate cards, rate limits, included credits and phases. */

export const entitlementSchema = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('metered'),
    /** Units included per usage period; absent = unlimited (metered for billing only). */
    limit: z.number().int().nonnegative().optional(),
    /** Soft: calls beyond the limit are allowed and billed as overage. Hard: they get 429. */
    softLimit: z.boolean().default(false),
    usagePeriod: isoDuration.default('P1M'),
  }),
  z.strictObject({ type: z.literal('boolean') }),
  z.strictObject({ type: z.literal('static'), config: z.record(z.string(), z.unknown()) }),
]);

export const rateCardSchema = z.strictObject({
  key: slug,
  name: z.string().optional(),
  feature: slug.optional(),
  price: priceSchema.nullable().default(null),
  entitlement: entitlementSchema.optional(),
  /** Prices that depend on a dimension (e.g. model tier) use one rate card per feature. */
});

export const rateLimitSchema = z.strictObject({
  limit: z.number().int().positive(),
  window,
  /** Extra requests allowed in a burst above the steady rate (GCRA tolerance). Default: limit. */
  burst: z.number().int().nonnegative().optional(),
});

/**
 * Prepaid credits a plan includes, granted at the start of every billing period (in the plan's
 * currency) like OpenMeter's recurring grants or Lago's recurring wallet top-ups. By default the
 * period's unused credits expire at its end; `{ days: n }` keeps them n days from the grant.
 */
export const includedCreditsSchema = z.strictObject({
  amount: money.refine(
    (v) => !isMoneyString(v) || new Decimal(v).gt(0),
    'included credits must be more than zero',
  ),
  expiresAfter: z
    .union([z.literal('period'), z.strictObject({ days: z.number().int().positive() })], {
      message: 'use "period" or { days: n }',
    })
    .default('period'),
});

export const phaseSchema = z.strictObject({
  key: slug,
  name: z.string().optional(),
  /** How long the phase lasts; omitted on the last phase (runs until the subscription ends). */
  duration: isoDuration.optional(),
  /** Marks a free trial: the subscription is `trialing` during this phase. */
  trial: z.boolean().default(false),
  rateCards: z.array(rateCardSchema).default([]),
  rateLimit: rateLimitSchema.optional(),
  /** Prepaid credits granted at the start of each billing period of this phase. */
  credits: includedCreditsSchema.optional(),
});

export const planSchema = z
  .strictObject({
    key: slug,
    name: z.string(),
    description: z.string().optional(),
    currency: z
      .string()
      .regex(/^[A-Z]{3}$/, 'must be an ISO 4217 code such as "USD"')
      .default('USD'),
    billingCadence: isoDuration.default('P1M'),
    /**
     * When billing periods start: 'anniversary' (default) on the day the subscription started;
     * `{ dayOfMonth: 1 }` on that day of the month (calendar billing), the first partial period
     * prorated by second. Days 29–31 are refused: not every month has them.
     */
    billingAnchor: z
      .union([
        z.literal('anniversary'),
        z.strictObject({
          dayOfMonth: z
            .number()
            .int('must be a whole day of the month')
            .min(1, 'must be a day from 1 to 28')
            .max(28, 'must be a day from 1 to 28 (not every month has a 29th, 30th or 31st)'),
        }),
      ])
      .optional(),
    /** Shown on the pricing page; private plans are only assigned by an admin (e.g. Enterprise). */
    public: z.boolean().default(true),
    /** Steady request rate for keys on this plan. Phases may override. */
    rateLimit: rateLimitSchema.optional(),
    /** Shorthand for a single phase: rate cards directly on the plan. */
    rateCards: z.array(rateCardSchema).optional(),
    /** With `rateCards`: prepaid credits granted at the start of each billing period. */
    credits: includedCreditsSchema.optional(),
    phases: z.array(phaseSchema).optional(),
    /** A free trial before the first paid phase, e.g. 14 (days). Shorthand for a trial phase. */
    trialDays: z.number().int().positive().optional(),
  })
  .superRefine((plan, ctx) => {
    if (plan.rateCards && plan.phases) {
      ctx.addIssue({
        code: 'custom',
        path: ['phases'],
        message: 'give either "rateCards" or "phases", not both',
      });
    }
    if (!plan.rateCards && !plan.phases) {
      ctx.addIssue({
        code: 'custom',
        path: ['rateCards'],
        message: 'a plan needs "rateCards" (or "phases")',
      });
    }
    if (plan.credits && plan.phases) {
      ctx.addIssue({
        code: 'custom',
        path: ['credits'],
        message: 'a plan with "phases" includes credits per phase: move "credits" into the phases',
      });
    }
    if (typeof plan.billingAnchor === 'object') {
      const cadence = parseIsoDuration(plan.billingCadence);
      const whole = cadence && (cadence.years > 0 || cadence.months > 0);
      const extra =
        cadence && cadence.weeks + cadence.days + cadence.hours + cadence.minutes + cadence.seconds > 0;
      if (!whole || extra) {
        ctx.addIssue({
          code: 'custom',
          path: ['billingAnchor'],
          message: `calendar billing needs a cadence of whole months or years (e.g. "P1M"); got "${plan.billingCadence}"`,
        });
      }
    }
    plan.phases?.forEach((phase, i) => {
      const last = i === (plan.phases?.length ?? 0) - 1;
      if (!last && !phase.duration) {
        ctx.addIssue({
          code: 'custom',
          path: ['phases', i, 'duration'],
          message: 'every phase but the last needs a duration',
        });
      }
    });
  });
