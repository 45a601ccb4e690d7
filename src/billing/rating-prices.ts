import type { PriceConfig } from '../config/schema.ts';
import { Decimal } from '../util/money.ts';

/**
 * One pricer per usage price type (as Lago's `charge_models/*_service.rb` and OpenMeter's
 * `billing/rating/service/rate/*.go`): `(price, quantity) → exact, unrounded charge`.
 *
 * - **Included units** (`includedUnits`, every usage price): that many units are taken off the
 *   quantity before the price sees it, as Lago's package `free_units`
 *   (lago-api app/services/charges/charge_models/package_service.rb: `billed_units = units -
 *   free_units`) and OpenMeter's usage discount (openmeter/billing/rating/service/mutator/
 *   discountusage.go) do. Tiers then count from the first billed unit: with 100 included units
 *   and a tier "up to 1,000", the tier covers billed units 1–1,000 (usage 101–1,100). We follow
 *   them rather than counting tiers from the first used unit because it is the only reading under
 *   which "included units" means the same thing for all four price types, and a price that wants
 *   free units inside its first tier can say so with a zero-price tier.
 * - **Graduated tiers' flat fee at zero usage**: the first tier's `flatPrice` is charged even
 *   when nothing (or only included units) was used, as Stripe and OpenMeter do
 *   (openmeter/billing/rating/service/rate/tieredgraduated.go: "We need to add the first range,
 *   in case there's a flat price component" when the quantity is zero). Later tiers' flat prices
 *   are charged once usage enters them.
 * - **Volume tiers** at zero billed units cost nothing (Lago volume_service.rb: `return 0 if
 *   units.zero?`), flat price included.
 */

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

export interface UsageCharge {
  amount: Decimal;
  unitPrice: Decimal | null;
  tiers?: TierBreakdown[];
  /** The quantity the price was applied to: usage minus included units, never below zero. */
  billedQuantity: Decimal;
}

type UsagePrice = Exclude<PriceConfig, { type: 'flat' } | { type: 'percentage' }>;
type TieredPrice = Extract<PriceConfig, { type: 'tiered' }>;

const ZERO = new Decimal(0);

/** Usage minus the price's included units, never below zero. */
export function billedQuantity(price: PriceConfig, quantity: Decimal.Value): Decimal {
  const q = Decimal.max(ZERO, new Decimal(quantity));
  const included = 'includedUnits' in price && price.includedUnits !== undefined ? price.includedUnits : 0;
  return Decimal.max(ZERO, q.sub(included));
}

function tierRow(
  index: number,
  lower: Decimal,
  upper: Decimal | null,
  quantity: Decimal,
  unit: Decimal,
  flat: Decimal,
): TierBreakdown {
  return {
    tier: index + 1,
    fromUnit: lower.toString(),
    upTo: upper?.toString() ?? null,
    quantity: quantity.toString(),
    unitPrice: unit.toString(),
    flatPrice: flat.toString(),
    amount: quantity.mul(unit).add(flat).toString(),
  };
}

function graduated(price: TieredPrice, q: Decimal): UsageCharge {
  const tiers: TierBreakdown[] = [];
  let lower = ZERO;
  let total = ZERO;
  price.tiers.forEach((tier, i) => {
    const upper = tier.upTo === undefined ? null : new Decimal(tier.upTo);
    const inTier =
      upper === null ? Decimal.max(ZERO, q.sub(lower)) : Decimal.max(ZERO, Decimal.min(q, upper).sub(lower));
    const unit = new Decimal(tier.unitPrice ?? 0);
    // The first tier's flat fee is the price of being on the price at all: charged at zero usage.
    const flat = inTier.gt(0) || i === 0 ? new Decimal(tier.flatPrice ?? 0) : ZERO;
    if (inTier.gt(0) || i === 0) tiers.push(tierRow(i, lower, upper, inTier, unit, flat));
    total = total.add(inTier.mul(unit)).add(flat);
    if (upper !== null) lower = upper;
  });
  return { amount: total, unitPrice: null, tiers, billedQuantity: q };
}

function volume(price: TieredPrice, q: Decimal): UsageCharge {
  if (q.isZero()) return { amount: ZERO, unitPrice: null, tiers: [], billedQuantity: q };
  let lower = ZERO;
  for (const [i, tier] of price.tiers.entries()) {
    const upper = tier.upTo === undefined ? null : new Decimal(tier.upTo);
    if (upper === null || q.lte(upper) || i === price.tiers.length - 1) {
      const unit = new Decimal(tier.unitPrice ?? 0);
      const flat = new Decimal(tier.flatPrice ?? 0);
      const row = tierRow(i, lower, upper, q, unit, flat);
      return { amount: new Decimal(row.amount), unitPrice: unit, tiers: [row], billedQuantity: q };
    }
    lower = upper;
  }
  return { amount: ZERO, unitPrice: null, tiers: [], billedQuantity: q };
}

/** The exact (unrounded) charge of a usage price for a quantity used. */
export function priceUsage(price: PriceConfig, quantity: Decimal.Value): UsageCharge {
  if (price.type === 'flat') {
    return { amount: new Decimal(price.amount), unitPrice: null, billedQuantity: new Decimal(1) };
  }
  if (price.type === 'percentage') {
    throw new Error('a percentage (take rate) price is rated per transaction: use rateTransactions');
  }
  const q = billedQuantity(price, quantity);
  return priceBilled(price, q);
}

function priceBilled(price: UsagePrice, q: Decimal): UsageCharge {
  switch (price.type) {
    case 'unit':
      return { amount: q.mul(price.amount), unitPrice: new Decimal(price.amount), billedQuantity: q };
    case 'package': {
      const packages = q.div(price.quantityPerPackage).ceil();
      return { amount: packages.mul(price.amount), unitPrice: null, billedQuantity: q };
    }
    case 'tiered':
      return price.mode === 'graduated' ? graduated(price, q) : volume(price, q);
  }
}
