import type { RateCardConfig } from '../config/schema.ts';
import { Decimal, formatMoney, roundMoney } from '../util/money.ts';
import type { RatedLine, RatingInput, RatingSegment } from './rating-model.ts';
import { priceUsage } from './rating-prices.ts';
import { NO_TRANSACTIONS } from './rating-take-rates.ts';

export type { LineKind, RatedLine, RatingInput, RatingSegment } from './rating-model.ts';
export { billedQuantity, priceUsage, type TierBreakdown, type UsageCharge } from './rating-prices.ts';
export {
  rateTransactions,
  type TakeRateTotals,
  type Transaction,
  takeRateSql,
} from './rating-take-rates.ts';

/**
 * The rating engine: pure, no I/O. `(rate cards per segment, period, usage) → invoice lines`.
 *
 * Rules (also in src/billing/README.md):
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
 * - **Included units** (`includedUnits` on unit, package and tiered prices) are taken off the
 *   usage before the price applies; tiers count from the first billed unit (rating-prices.ts).
 * - **Tiered graduated**: billed units fill tiers in order; each tier charges its units × unit
 *   price, plus its flat price once usage enters it. The first tier's flat price is charged even
 *   at zero usage (as Stripe and OpenMeter do).
 * - **Tiered volume**: the tier that the total quantity falls in prices every unit, plus that
 *   tier's flat price. Zero usage costs nothing.
 * - **Package**: `ceil(quantity / quantityPerPackage) × amount` (a started package is paid whole).
 * - **Percentage (take rate)**: per transaction, `clamp(rate% × value + fee, min, max)` after the
 *   free allowance, summed exactly (rating-take-rates.ts); the segment carries the sum.
 * - **Minimum / maximum spend** (per rate card, per segment, prorated by second like arrears
 *   fees): below the minimum a "minimum spend" line tops the charge up; above the maximum a
 *   negative "maximum spend" line caps it.
 */

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

/**
 * The share of its whole calendar period a (short, first) billing period is: fees and
 * commitments are multiplied by it. 1 for whole periods and anniversary billing.
 */
function periodScale(segment: RatingSegment, period: { from: Date; to: Date }): Decimal {
  return segment.fullPeriod ? fraction(period.from, period.to, segment.fullPeriod) : new Decimal(1);
}

function flatInAdvanceAmount(
  segment: RatingSegment | undefined,
  cardKey: string,
  period: { from: Date; to: Date },
): Decimal {
  if (!segment || segment.trial) return ZERO;
  const card = segment.rateCards.find((c) => c.key === cardKey);
  if (card?.price?.type === 'flat' && card.price.paymentTerm === 'in_advance')
    return new Decimal(card.price.amount).mul(periodScale(segment, period));
  return ZERO;
}

type LineBase = Pick<RatedLine, 'planKey' | 'planVersion' | 'periodFrom' | 'periodTo'>;
type UsagePriceConfig = Exclude<NonNullable<RateCardConfig['price']>, { type: 'flat' }>;

type Period = { from: Date; to: Date };
type FlatPriceConfig = Extract<NonNullable<RateCardConfig['price']>, { type: 'flat' }>;

/** How much of the period a segment covers: the numbers every line it produces is scaled by. */
interface SegmentShares {
  /** The share of its whole calendar period the billing period is (see `periodScale`). */
  scale: Decimal;
  /** The segment's share of the period, scale included. */
  segFraction: Decimal;
  /** The share of the period from the segment's start to the period's end. */
  remaining: Decimal;
}

function lineBase(segment: RatingSegment): LineBase {
  return {
    planKey: segment.planKey,
    planVersion: segment.planVersion,
    periodFrom: segment.from,
    periodTo: segment.to,
  };
}

/** The fields every line of a rate card shares: its segment's plan and period, the card and its feature. */
function cardLineBase(card: RateCardConfig, segment: RatingSegment) {
  return { ...lineBase(segment), rateCardKey: card.key, featureKey: card.feature ?? null };
}

function money(amount: Decimal, currency: string): string {
  return formatMoney(roundMoney(amount, currency), currency);
}

/** The charge of one usage (or take-rate) rate card in a segment, before commitments. */
function usageLine(
  card: RateCardConfig,
  price: UsagePriceConfig,
  segment: RatingSegment,
  index: number,
  base: LineBase,
  currency: string,
): { line: RatedLine; exact: Decimal } {
  const line: RatedLine = {
    ...base,
    key: `${card.key}:usage:${index}`,
    kind: 'usage',
    rateCardKey: card.key,
    featureKey: card.feature ?? null,
    description: name(card),
    timing: 'in_arrears',
    quantity: '0',
    unitPrice: null,
    amount: '0',
  };
  if (price.type === 'percentage') {
    const totals = segment.transactions?.[card.key] ?? NO_TRANSACTIONS;
    const exact = new Decimal(totals.amount);
    const fee = price.fixedFee ? ` + ${price.fixedFee} per transaction` : '';
    const volume = new Decimal(totals.volume).toString();
    line.description = `${name(card)} (${price.rate}% of ${volume}${fee}, ${totals.transactions} transactions)`;
    line.quantity = volume;
    line.amount = formatMoney(roundMoney(exact, currency), currency);
    return { line, exact };
  }
  const quantity = new Decimal(card.feature ? (segment.usage[card.feature] ?? 0) : 0);
  const charge = priceUsage(price, quantity);
  line.quantity = quantity.toString();
  line.unitPrice = charge.unitPrice?.toString() ?? (price.type === 'package' ? price.amount : null);
  line.amount = formatMoney(roundMoney(charge.amount, currency), currency);
  if (charge.tiers) line.tiers = charge.tiers;
  if (price.type === 'package') {
    line.description = `${name(card)} (${charge.billedQuantity.div(price.quantityPerPackage).ceil().toString()} × ${price.quantityPerPackage} units)`;
  }
  if (price.includedUnits) line.description += ` (${new Decimal(price.includedUnits).toString()} included)`;
  return { line, exact: charge.amount };
}

/**
 * A usage rate card's lines in a segment: its charge, then a commitment line that tops it up to
 * the minimum or takes it down to the maximum (both prorated by the segment's share of the period).
 */
function usageLines(
  card: RateCardConfig,
  segment: RatingSegment,
  index: number,
  segFraction: Decimal,
  currency: string,
): RatedLine[] {
  const price = card.price;
  if (!price || price.type === 'flat') return [];
  const base = lineBase(segment);
  const { line, exact } = usageLine(card, price, segment, index, base, currency);
  const lines = [line];
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
      amount: formatMoney(roundMoney(difference, currency), currency),
    });
  if (price.minimumAmount !== undefined) {
    const minimum = new Decimal(price.minimumAmount).mul(segFraction);
    if (exact.lt(minimum)) commitment('minimum', `Minimum spend for ${name(card)}`, minimum.sub(exact));
  }
  if (price.maximumAmount !== undefined) {
    const maximum = new Decimal(price.maximumAmount).mul(segFraction);
    if (exact.gt(maximum)) commitment('maximum', `Maximum spend cap for ${name(card)}`, maximum.sub(exact));
  }
  return lines;
}

/** Proration credits for in-advance fees of the previous segment that this segment replaces. */
function prorationCredits(
  previous: RatingSegment,
  segment: RatingSegment,
  index: number,
  period: Period,
  remaining: Decimal,
  currency: string,
): RatedLine[] {
  const lines: RatedLine[] = [];
  for (const card of previous.rateCards) {
    const oldFee = flatInAdvanceAmount(previous, card.key, period);
    if (oldFee.isZero()) continue;
    lines.push({
      ...cardLineBase(card, segment),
      key: `${card.key}:credit:${index}`,
      kind: 'proration_credit',
      planKey: previous.planKey,
      planVersion: previous.planVersion,
      description: `Unused time on ${name(card)} (${previous.planKey} v${previous.planVersion})`,
      periodFrom: segment.from,
      periodTo: period.to,
      timing: 'in_advance',
      quantity: remaining.toDecimalPlaces(6).toString(),
      unitPrice: oldFee.neg().toString(),
      amount: money(oldFee.mul(remaining).neg(), currency),
    });
  }
  return lines;
}

function trialLine(segment: RatingSegment, index: number, currency: string): RatedLine {
  return {
    ...lineBase(segment),
    key: `trial:${index}`,
    kind: 'trial',
    rateCardKey: 'trial',
    featureKey: null,
    description: `Free trial (${segment.planKey})`,
    timing: 'in_arrears',
    quantity: '1',
    unitPrice: '0',
    amount: money(ZERO, currency),
  };
}

/**
 * An in-advance flat fee: the whole (or short-period prorated) fee in the first segment, and a
 * charge for the time left in the period when a later segment brings it in.
 */
function flatInAdvanceLine(
  card: RateCardConfig,
  price: FlatPriceConfig,
  segment: RatingSegment,
  index: number,
  period: Period,
  shares: SegmentShares,
  currency: string,
): RatedLine {
  const { scale, remaining } = shares;
  const amount = new Decimal(price.amount).mul(scale);
  if (index === 0) {
    const whole = scale.eq(1);
    return {
      ...cardLineBase(card, segment),
      key: `${card.key}:flat:${index}`,
      kind: 'flat',
      description: whole ? name(card) : `${name(card)} (prorated)`,
      periodFrom: period.from,
      periodTo: period.to,
      timing: 'in_advance',
      quantity: whole ? '1' : scale.toDecimalPlaces(6).toString(),
      unitPrice: price.amount,
      amount: money(amount, currency),
    };
  }
  return {
    ...cardLineBase(card, segment),
    key: `${card.key}:charge:${index}`,
    kind: 'proration_charge',
    description: `Remaining time on ${name(card)} (${segment.planKey} v${segment.planVersion})`,
    periodFrom: segment.from,
    periodTo: period.to,
    timing: 'in_advance',
    quantity: remaining.toDecimalPlaces(6).toString(),
    unitPrice: amount.toString(),
    amount: money(amount.mul(remaining), currency),
  };
}

/** An in-arrears flat fee, prorated by the segment's share of the period. */
function flatInArrearsLine(
  card: RateCardConfig,
  price: FlatPriceConfig,
  segment: RatingSegment,
  index: number,
  segFraction: Decimal,
  currency: string,
): RatedLine {
  const amount = new Decimal(price.amount);
  const whole = segFraction.eq(1); // scale included
  return {
    ...cardLineBase(card, segment),
    key: `${card.key}:flat:${index}`,
    kind: 'flat',
    description: whole ? name(card) : `${name(card)} (prorated)`,
    timing: 'in_arrears',
    quantity: whole ? '1' : segFraction.toDecimalPlaces(6).toString(),
    unitPrice: amount.toString(),
    amount: money(amount.mul(segFraction), currency),
  };
}

/** All lines of one segment (segments sorted by start): credits for what it replaces, then its own. */
function segmentLines(
  segments: RatingSegment[],
  index: number,
  period: Period,
  currency: string,
): RatedLine[] {
  const segment = segments[index] as RatingSegment;
  const scale = periodScale(segment, period);
  const shares: SegmentShares = {
    scale,
    segFraction: fraction(segment.from, segment.to, period).mul(scale),
    remaining: fraction(segment.from, period.to, period),
  };
  const previous = index > 0 ? segments[index - 1] : undefined;
  const lines = previous
    ? prorationCredits(previous, segment, index, period, shares.remaining, currency)
    : [];

  if (segment.trial) {
    lines.push(trialLine(segment, index, currency));
    return lines;
  }

  for (const card of segment.rateCards) {
    const price = card.price;
    if (!price) continue;
    if (price.type === 'flat') {
      lines.push(
        price.paymentTerm === 'in_advance'
          ? flatInAdvanceLine(card, price, segment, index, period, shares, currency)
          : flatInArrearsLine(card, price, segment, index, shares.segFraction, currency),
      );
      continue;
    }
    lines.push(...usageLines(card, segment, index, shares.segFraction, currency));
  }
  return lines;
}

export function rate(input: RatingInput): RatedLine[] {
  const { period, currency } = input;
  const segments = [...input.segments].sort((a, b) => a.from.getTime() - b.from.getTime());
  return segments.flatMap((_, index) => segmentLines(segments, index, period, currency));
}

/** Sum of rounded line amounts (lines are already at the minor unit, so this is exact). */
export function sumLines(lines: readonly Pick<RatedLine, 'amount'>[], currency: string): string {
  return formatMoney(
    lines.reduce((acc, l) => acc.add(l.amount), ZERO),
    currency,
  );
}
