import { Decimal } from 'decimal.js';
import type { PlanDefinition, PlanVersion } from '../catalog/index.ts';

/**
 * Whether a plan has anything above it to upgrade to: the gateway's 429 and 403 answers carry an
 * `upgradeUrl` only then (a customer on the top plan was offered an upgrade to nothing).
 *
 * A plan's standing is its base price, the flat fees without a feature of its last phase (what
 * the pricing page shows), compared with the public plans of the same currency and cadence only:
 * amounts in different currencies do not order.
 */
function basePrice(definition: PlanDefinition): Decimal {
  const phase = definition.phases[definition.phases.length - 1];
  let base = new Decimal(0);
  for (const card of phase?.rateCards ?? []) {
    if (card.price?.type === 'flat' && !card.feature) base = base.plus(card.price.amount);
  }
  return base;
}

const groupOf = (d: PlanDefinition) => `${d.currency}|${d.billingCadence}`;

/** The highest public base price per currency and cadence. */
export function highestPublicPrices(publicPlans: PlanVersion[]): Map<string, Decimal> {
  const highest = new Map<string, Decimal>();
  for (const { definition } of publicPlans) {
    const base = basePrice(definition);
    const group = groupOf(definition);
    const current = highest.get(group);
    if (!current || base.greaterThan(current)) highest.set(group, base);
  }
  return highest;
}

export function hasUpgrade(definition: PlanDefinition, highest: Map<string, Decimal>): boolean {
  const top = highest.get(groupOf(definition));
  return top?.greaterThan(basePrice(definition)) ?? false;
}
