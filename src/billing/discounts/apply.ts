import { Decimal, formatMoney, roundMoney } from '../../util/money.ts';
import type { RatedLine } from '../rating.ts';

/**
 * Discounts on an invoice's rated lines: pure, no I/O. Each discount is its own negative line.
 *
 * Order (as Stripe applies coupons to the amount after its tiers and Lago applies coupons after
 * its commitments; documented in docs/billing.md):
 * 1. every rate card is rated, and its minimum / maximum spend lines added (commitments first:
 *    a discount lowers what is paid, not the commitment the customer signed);
 * 2. discounts on chosen rate cards, in the order given, each on what is left of those cards;
 * 3. discounts on the whole invoice, in the order given, on what is left of the invoice;
 * 4. prepaid credits and tax (invoices.ts) come after discounts.
 * A percentage discount is `round(base × percent / 100)` half-up at the minor unit; a fixed one
 * is its amount. Either is capped at its base, so a discount never makes a rate card or the
 * invoice negative, and a base at or below zero gets no discount line.
 */
export interface DiscountTerms {
  /** Stable id (the redemption): the line key is `discount:<id>`. */
  id: string;
  /** Shown on the invoice, e.g. `Coupon WELCOME20`. */
  name: string;
  /** Percent off as a decimal string ("20" is 20 %), or a fixed amount in the invoice currency. */
  percentOff?: string;
  amountOff?: string;
  /** Rate card keys the discount applies to; absent or empty: the whole invoice. */
  rateCardKeys?: readonly string[];
}

const ZERO = new Decimal(0);

/** A coupon's terms before it is redeemed (the price shown at checkout). */
export function couponTerms(coupon: {
  code: string;
  percentOff: string | null;
  amountOff: string | null;
  rateCardKeys: readonly string[];
}): DiscountTerms {
  return {
    id: `coupon:${coupon.code}`,
    name: `Coupon ${coupon.code}`,
    ...(coupon.percentOff ? { percentOff: coupon.percentOff } : {}),
    ...(coupon.amountOff ? { amountOff: coupon.amountOff } : {}),
    ...(coupon.rateCardKeys.length ? { rateCardKeys: coupon.rateCardKeys } : {}),
  };
}

function describe(discount: DiscountTerms, currency: string): string {
  const what = discount.percentOff
    ? `${new Decimal(discount.percentOff).toString()}% off`
    : `${formatMoney(discount.amountOff ?? 0, currency)} ${currency} off`;
  const scope = discount.rateCardKeys?.length ? ` ${discount.rateCardKeys.join(', ')}` : '';
  return `${discount.name} (${what}${scope})`;
}

/** The discount lines for `lines` (lines without discounts), in application order. */
export function applyDiscounts(
  lines: readonly RatedLine[],
  discounts: readonly DiscountTerms[],
  currency: string,
  period: { from: Date; to: Date },
): RatedLine[] {
  const byCard = new Map<string, Decimal>();
  for (const line of lines)
    byCard.set(line.rateCardKey, (byCard.get(line.rateCardKey) ?? ZERO).add(line.amount));
  const scoped = discounts.filter((d) => d.rateCardKeys?.length);
  const whole = discounts.filter((d) => !d.rateCardKeys?.length);
  const out: RatedLine[] = [];
  const template = lines[0];
  const push = (discount: DiscountTerms, base: Decimal): Decimal => {
    if (base.lte(0)) return ZERO;
    const wanted = discount.percentOff
      ? roundMoney(base.mul(discount.percentOff).div(100), currency)
      : roundMoney(discount.amountOff ?? 0, currency);
    const amount = Decimal.min(wanted, base);
    if (amount.lte(0)) return ZERO;
    out.push({
      key: `discount:${discount.id}`,
      kind: 'discount',
      rateCardKey: 'discount',
      featureKey: null,
      planKey: template?.planKey ?? '',
      planVersion: template?.planVersion ?? 0,
      description: describe(discount, currency),
      periodFrom: period.from,
      periodTo: period.to,
      timing: 'in_arrears',
      quantity: '1',
      unitPrice: null,
      amount: formatMoney(amount.neg(), currency),
    });
    return amount;
  };
  let remaining = [...byCard.values()].reduce((acc, v) => acc.add(v), ZERO);
  for (const discount of scoped) {
    const keys = (discount.rateCardKeys ?? []).filter((k) => byCard.has(k));
    const cards = keys.reduce((acc, k) => acc.add(Decimal.max(ZERO, byCard.get(k) ?? ZERO)), ZERO);
    // Capped by the invoice too: other cards' credits (a downgrade) may already bring it near zero.
    let taken = push(discount, Decimal.min(cards, remaining));
    remaining = remaining.sub(taken);
    // What the discount took comes off its cards in order, so a later discount sees the rest.
    for (const k of keys) {
      const left = Decimal.max(ZERO, byCard.get(k) ?? ZERO);
      const off = Decimal.min(left, taken);
      byCard.set(k, (byCard.get(k) ?? ZERO).sub(off));
      taken = taken.sub(off);
    }
  }
  for (const discount of whole) remaining = remaining.sub(push(discount, remaining));
  return out;
}
