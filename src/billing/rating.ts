import type { PriceConfig, RateCardConfig } from '../config/schema.ts';
import { Decimal, formatMoney, roundMoney } from '../util/money.ts';

/**
 * The rating engine: pure, no I/O. `(rate cards per segment, period, usage) → invoice lines`.
 *
 * Rules (also in the report and the billing docs):
 *
 * - **Periods** are half-open `[from, to)`. A subscription's period is cut into *segments*
 *   wherever its plan version or phase changes (upgrade, downgrade, trial end). Each segment
 *   carries its own rate cards and its own usage.
 * - **Rounding** happens once per line: the exact Decimal amount of the line (tier breakdown
 *   included) is rounded half-up to the currency's minor unit (`roundMoney`). Breakdown rows keep
 *   their exact amounts; the invoice total is the sum of the rounded lines.
 * - **Flat fees in arrears** are charged for the seconds each segment covers:
 *   `amount × segmentSeconds / periodSeconds`.
 * - **Flat fees in advance** are charged in full for the first segment (as if billed at period
 *   start). At every later segment boundary (a plan change at instant *t*) the *unused part of the
 *   previous segment's fee* is credited (`−oldFee × (to − t) / (to − from)`, by second) and the new
 *   segment's fee is charged for the remainder of the period (`+newFee × (to − t) / (to − from)`).
 *   The sum is exactly `oldFee × used + newFee × remaining`.
 * - **Trials**: a segment marked `trial` is free: one zero line says so, no fee or usage is rated.
 * - **Usage** is rated per segment with that segment's usage: a plan change starts the new
 *   plan's tiers from zero (the new plan's tiers apply to the usage after the change).
 * - **Unit**: `quantity × amount`.
 * - **Tiered graduated**: usage fills tiers in order; each tier charges its units × unit price,
 *   plus its flat price once usage enters it. Included units are a zero-price first tier.
 * - **Tiered volume**: the tier that the total quantity falls in prices every unit, plus that
 *   tier's flat price. Zero usage costs nothing.
 * - **Package**: `ceil(quantity / quantityPerPackage) × amount` (a started package is paid whole).
 * - **Minimum / maximum spend** (per rate card, per segment, prorated by second like arrears
 *   fees): below the minimum a "minimum spend" line tops the charge up; above the maximum a
 *   negative "maximum spend" line caps it.
 */

export interface RatingSegment {
  from: Date;
  to: Date;
  planKey: string;
  planVersion: number;
  phaseKey?: string;
  trial?: boolean;
  rateCards: readonly RateCardConfig[];
  /** Usage per feature key in this segment (decimal string or number). */
  usage: Readonly<Record<string, Decimal.Value>>;
}

export interface RatingInput {
  period: { from: Date; to: Date };
  currency: string;
  segments: readonly RatingSegment[];
}

export interface TierBreakdown {
  tier: number;
  /** First unit of the tier (exclusive lower bound as a count: units after this many). */
  fromUnit: string;
  upTo: string | null;
  quantity: string;
  unitPrice: string;
  flatPrice: string;
  /** Exact, unrounded. */
  amount: string;
}

export type LineKind =
  | 'flat'
  | 'usage'
  | 'proration_credit'
  | 'proration_charge'
  | 'minimum_spend'
  | 'maximum_spend'
  | 'trial';

export interface RatedLine {
  /** Stable within a subscription period: the same input gives the same keys. */
  key: string;
  kind: LineKind;
  rateCardKey: string;
  featureKey: string | null;
  planKey: string;
  planVersion: number;
  description: string;
  periodFrom: Date;
  periodTo: Date;
  timing: 'in_advance' | 'in_arrears';
  quantity: string;
  unitPrice: string | null;
  /** Rounded once, half-up, to the currency's minor unit; fixed-point string. */
  amount: string;
  tiers?: TierBreakdown[];
}

const ZERO = new Decimal(0);

function fraction(from: Date, to: Date, period: { from: Date; to: Date }): Decimal {
  const total = Math.floor(period.to.getTime() / 1000) - Math.floor(period.from.getTime() / 1000);
  if (total <= 0) return ZERO;
  const part = Math.floor(to.getTime() / 1000) - Math.floor(from.getTime() / 1000);
  return new Decimal(Math.max(0, part)).div(total);
}

function name(card: RateCardConfig): string {
  return card.name ?? card.feature ?? card.key;
}

export interface UsageCharge {
  amount: Decimal;
  unitPrice: Decimal | null;
  tiers?: TierBreakdown[];
}

/** The exact (unrounded) charge of a usage price for a quantity. */
export function priceUsage(price: PriceConfig, quantity: Decimal.Value): UsageCharge {
  const q = Decimal.max(ZERO, new Decimal(quantity));
  switch (price.type) {
    case 'flat':
      return { amount: new Decimal(price.amount), unitPrice: null };
    case 'unit':
      return { amount: q.mul(price.amount), unitPrice: new Decimal(price.amount) };
    case 'package': {
      const packages = q.div(price.quantityPerPackage).ceil();
      return { amount: packages.mul(price.amount), unitPrice: null };
    }
    case 'tiered': {
      const tiers: TierBreakdown[] = [];
      let lower = ZERO;
      if (price.mode === 'graduated') {
        let total = ZERO;
        price.tiers.forEach((tier, i) => {
          const upper = tier.upTo === undefined ? null : new Decimal(tier.upTo);
          const inTier =
            upper === null
              ? Decimal.max(ZERO, q.sub(lower))
              : Decimal.max(ZERO, Decimal.min(q, upper).sub(lower));
          const unit = new Decimal(tier.unitPrice ?? 0);
          const flat = inTier.gt(0) ? new Decimal(tier.flatPrice ?? 0) : ZERO;
          const amount = inTier.mul(unit).add(flat);
          if (inTier.gt(0) || i === 0) {
            tiers.push({
              tier: i + 1,
              fromUnit: lower.toString(),
              upTo: upper?.toString() ?? null,
              quantity: inTier.toString(),
              unitPrice: unit.toString(),
              flatPrice: flat.toString(),
              amount: amount.toString(),
            });
          }
          total = total.add(amount);
          if (upper !== null) lower = upper;
        });
        return { amount: total, unitPrice: null, tiers };
      }
      // volume: the tier the whole quantity falls in prices every unit
      if (q.isZero()) return { amount: ZERO, unitPrice: null, tiers: [] };
      for (const [i, tier] of price.tiers.entries()) {
        const upper = tier.upTo === undefined ? null : new Decimal(tier.upTo);
        if (upper === null || q.lte(upper) || i === price.tiers.length - 1) {
          const unit = new Decimal(tier.unitPrice ?? 0);
          const flat = new Decimal(tier.flatPrice ?? 0);
          const amount = q.mul(unit).add(flat);
          tiers.push({
            tier: i + 1,
            fromUnit: lower.toString(),
            upTo: upper?.toString() ?? null,
            quantity: q.toString(),
            unitPrice: unit.toString(),
            flatPrice: flat.toString(),
            amount: amount.toString(),
          });
          return { amount, unitPrice: unit, tiers };
        }
        lower = upper;
      }
      return { amount: ZERO, unitPrice: null, tiers };
    }
  }
}

function flatInAdvanceAmount(segment: RatingSegment | undefined, cardKey: string): Decimal {
  if (!segment || segment.trial) return ZERO;
  const card = segment.rateCards.find((c) => c.key === cardKey);
  if (card?.price?.type === 'flat' && card.price.paymentTerm === 'in_advance')
    return new Decimal(card.price.amount);
  return ZERO;
}

export function rate(input: RatingInput): RatedLine[] {
  const { period, currency } = input;
  const lines: RatedLine[] = [];
  const money = (d: Decimal) => formatMoney(roundMoney(d, currency), currency);
  const segments = [...input.segments].sort((a, b) => a.from.getTime() - b.from.getTime());

  segments.forEach((segment, index) => {
    const base = {
      planKey: segment.planKey,
      planVersion: segment.planVersion,
      periodFrom: segment.from,
      periodTo: segment.to,
    };
    const segFraction = fraction(segment.from, segment.to, period);
    const remaining = fraction(segment.from, period.to, period);
    const previous = index > 0 ? segments[index - 1] : undefined;

    // Proration credits for in-advance fees of the previous segment that this segment replaces.
    if (previous) {
      for (const card of previous.rateCards) {
        const oldFee = flatInAdvanceAmount(previous, card.key);
        if (oldFee.isZero()) continue;
        lines.push({
          ...base,
          key: `${card.key}:credit:${index}`,
          kind: 'proration_credit',
          rateCardKey: card.key,
          featureKey: card.feature ?? null,
          planKey: previous.planKey,
          planVersion: previous.planVersion,
          description: `Unused time on ${name(card)} (${previous.planKey} v${previous.planVersion})`,
          periodFrom: segment.from,
          periodTo: period.to,
          timing: 'in_advance',
          quantity: remaining.toDecimalPlaces(6).toString(),
          unitPrice: oldFee.neg().toString(),
          amount: money(oldFee.mul(remaining).neg()),
        });
      }
    }

    if (segment.trial) {
      lines.push({
        ...base,
        key: `trial:${index}`,
        kind: 'trial',
        rateCardKey: 'trial',
        featureKey: null,
        description: `Free trial (${segment.planKey})`,
        timing: 'in_arrears',
        quantity: '1',
        unitPrice: '0',
        amount: money(ZERO),
      });
      return;
    }

    for (const card of segment.rateCards) {
      const price = card.price;
      if (!price) continue;
      if (price.type === 'flat') {
        if (price.paymentTerm === 'in_advance') {
          const amount = new Decimal(price.amount);
          if (index === 0) {
            lines.push({
              ...base,
              key: `${card.key}:flat:${index}`,
              kind: 'flat',
              rateCardKey: card.key,
              featureKey: card.feature ?? null,
              description: name(card),
              periodFrom: period.from,
              periodTo: period.to,
              timing: 'in_advance',
              quantity: '1',
              unitPrice: amount.toString(),
              amount: money(amount),
            });
          } else {
            lines.push({
              ...base,
              key: `${card.key}:charge:${index}`,
              kind: 'proration_charge',
              rateCardKey: card.key,
              featureKey: card.feature ?? null,
              description: `Remaining time on ${name(card)} (${segment.planKey} v${segment.planVersion})`,
              periodFrom: segment.from,
              periodTo: period.to,
              timing: 'in_advance',
              quantity: remaining.toDecimalPlaces(6).toString(),
              unitPrice: amount.toString(),
              amount: money(amount.mul(remaining)),
            });
          }
        } else {
          const amount = new Decimal(price.amount);
          const whole = segFraction.eq(1);
          lines.push({
            ...base,
            key: `${card.key}:flat:${index}`,
            kind: 'flat',
            rateCardKey: card.key,
            featureKey: card.feature ?? null,
            description: whole ? name(card) : `${name(card)} (prorated)`,
            timing: 'in_arrears',
            quantity: whole ? '1' : segFraction.toDecimalPlaces(6).toString(),
            unitPrice: amount.toString(),
            amount: money(amount.mul(segFraction)),
          });
        }
        continue;
      }

      const quantity = new Decimal(card.feature ? (segment.usage[card.feature] ?? 0) : 0);
      const charge = priceUsage(price, quantity);
      const line: RatedLine = {
        ...base,
        key: `${card.key}:usage:${index}`,
        kind: 'usage',
        rateCardKey: card.key,
        featureKey: card.feature ?? null,
        description: name(card),
        timing: 'in_arrears',
        quantity: quantity.toString(),
        unitPrice: charge.unitPrice?.toString() ?? (price.type === 'package' ? price.amount : null),
        amount: money(charge.amount),
      };
      if (charge.tiers) line.tiers = charge.tiers;
      if (price.type === 'package') {
        line.description = `${name(card)} (${quantity.div(price.quantityPerPackage).ceil().toString()} × ${price.quantityPerPackage} units)`;
      }
      lines.push(line);

      // Commitments: a line that tops usage up to the minimum, or takes it down to the maximum.
      const commitment = (kind: 'minimum' | 'maximum', description: string, difference: Decimal) =>
        lines.push({
          ...base,
          key: `${card.key}:${kind}:${index}`,
          kind: `${kind}_spend`,
          rateCardKey: card.key,
          featureKey: card.feature ?? null,
          description,
          timing: 'in_arrears',
          quantity: '1',
          unitPrice: null,
          amount: money(difference),
        });
      if (price.minimumAmount !== undefined) {
        const minimum = new Decimal(price.minimumAmount).mul(segFraction);
        if (charge.amount.lt(minimum)) {
          commitment('minimum', `Minimum spend for ${name(card)}`, minimum.sub(charge.amount));
        }
      }
      if (price.maximumAmount !== undefined) {
        const maximum = new Decimal(price.maximumAmount).mul(segFraction);
        if (charge.amount.gt(maximum)) {
          commitment('maximum', `Maximum spend cap for ${name(card)}`, maximum.sub(charge.amount));
        }
      }
    }
  });
  return lines;
}

/** Sum of rounded line amounts (lines are already at the minor unit, so this is exact). */
export function sumLines(lines: readonly Pick<RatedLine, 'amount'>[], currency: string): string {
  return formatMoney(
    lines.reduce((acc, l) => acc.add(l.amount), ZERO),
    currency,
  );
}
