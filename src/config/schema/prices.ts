import { z } from 'zod';
import { Decimal, isMoneyString } from '../../util/money.ts';
import { money } from './primitives.ts';

/** Price models of a rate card: flat, unit, tiered, package, take rate; commitments and included units. */

const tier = z.strictObject({
  /** Upper bound of the tier (inclusive, in units); omit for the last, unbounded tier. */
  upTo: z.number().int().positive().optional(),
  unitPrice: money.optional(),
  flatPrice: money.optional(),
});

/**
 * Tiers that make sense on their own: increasing bounds, only the last unbounded, each with a
 * price. A schema rule, not a cross-reference, so a contract override's price (admin API) is
 * held to it as the config's is.
 */
function tierRules(p: { tiers: z.output<typeof tier>[] }, ctx: z.RefinementCtx): void {
  const { tiers } = p;
  tiers.forEach((t, i) => {
    const last = i === tiers.length - 1;
    if (!last && t.upTo === undefined)
      ctx.addIssue({
        code: 'custom',
        path: ['tiers', i, 'upTo'],
        message: 'only the last tier may be unbounded',
      });
    const prev = tiers[i - 1]?.upTo;
    if (t.upTo !== undefined && prev !== undefined && t.upTo <= prev)
      ctx.addIssue({ code: 'custom', path: ['tiers', i, 'upTo'], message: 'tiers must increase' });
    if (t.unitPrice === undefined && t.flatPrice === undefined)
      ctx.addIssue({ code: 'custom', path: ['tiers', i], message: 'a tier needs unitPrice or flatPrice' });
  });
  if (tiers[tiers.length - 1]?.upTo !== undefined)
    ctx.addIssue({
      code: 'custom',
      path: ['tiers', tiers.length - 1, 'upTo'],
      message: 'the last tier must be unbounded (omit upTo)',
    });
}

const commitments = {
  minimumAmount: money.optional(),
  maximumAmount: money.optional(),
};

/** Units free each period before the price applies ("the first 100 calls are free"). */
const includedUnits = {
  includedUnits: z.number().nonnegative('included units cannot be negative').optional(),
};

const nonNegativeMoney = money.refine(
  (v) => !isMoneyString(v) || new Decimal(v).gte(0),
  'must be zero or more',
);

const RATE_MESSAGE = 'rate must be a percentage between "0" and "100" as a decimal string, e.g. "2.9"';

/** A take rate (Lago's percentage charge model): a share of each metered transaction's value. */
const percentagePrice = z
  .strictObject({
    type: z.literal('percentage'),
    /** Percent of each transaction's value, as a decimal string: "2.9" is 2.9 %. */
    rate: z
      .string({ error: RATE_MESSAGE })
      .refine((v) => isMoneyString(v) && new Decimal(v).gte(0) && new Decimal(v).lte(100), RATE_MESSAGE),
    /** Added to every transaction past the free allowance. */
    fixedFee: nonNegativeMoney.optional(),
    minimumPerTransaction: nonNegativeMoney.optional(),
    maximumPerTransaction: nonNegativeMoney.optional(),
    /** The first n transactions of each period cost nothing. */
    freeTransactions: z.number().int().positive().optional(),
    /** The first part of each period's transaction volume that costs nothing. */
    freeAmount: nonNegativeMoney.optional(),
    ...commitments,
  })
  .refine(
    (p) =>
      p.minimumPerTransaction === undefined ||
      p.maximumPerTransaction === undefined ||
      new Decimal(p.minimumPerTransaction).lte(p.maximumPerTransaction),
    {
      path: ['maximumPerTransaction'],
      message: 'maximumPerTransaction must be at least minimumPerTransaction',
    },
  );

export const priceSchema = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('flat'),
    amount: money,
    paymentTerm: z.enum(['in_advance', 'in_arrears']).default('in_advance'),
  }),
  z.strictObject({ type: z.literal('unit'), amount: money, ...includedUnits, ...commitments }),
  z
    .strictObject({
      type: z.literal('tiered'),
      mode: z.enum(['graduated', 'volume']),
      tiers: z.array(tier).min(1),
      ...includedUnits,
      ...commitments,
    })
    .superRefine(tierRules),
  z.strictObject({
    type: z.literal('package'),
    amount: money,
    quantityPerPackage: z.number().int().positive(),
    ...includedUnits,
    ...commitments,
  }),
  percentagePrice,
]);
