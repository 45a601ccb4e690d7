import { type PlanDefinition, phaseOf } from '../catalog/index.ts';
import type {
  EntitlementConfig,
  PricingHook,
  PricingHookInput,
  RateCardConfig,
  RateLimitConfig,
} from '../config/index.ts';
import { problems } from '../http/problem.ts';
import { isMoneyString } from '../util/money.ts';
import type { ContractOverrides } from './model.ts';

/**
 * The plan a subscriber actually has: the plan version's phase with the contract overrides
 * applied. Enforcement (access view), previews and invoices all start from this, so they agree.
 */
export interface EffectivePlan {
  planKey: string;
  planVersion: number;
  planName: string;
  currency: string;
  billingCadence: string;
  phaseKey: string;
  trial: boolean;
  rateCards: RateCardConfig[];
  /** Phase's rate limit, else the plan's, replaced by the contract's when it sets one. */
  rateLimit: RateLimitConfig | null;
}

export function applyOverrides(
  definition: PlanDefinition,
  version: number,
  phaseKey: string,
  overrides: ContractOverrides,
): EffectivePlan {
  const phase = phaseOf(definition, phaseKey);
  const cards = overrides.rateCards ?? {};
  const rateCards: RateCardConfig[] = [];
  for (const rc of phase.rateCards) {
    const o = cards[rc.key];
    if (!o) {
      rateCards.push(rc);
      continue;
    }
    if (o.remove) continue;
    let entitlement: EntitlementConfig | undefined =
      o.entitlement === undefined ? rc.entitlement : (o.entitlement ?? undefined);
    if (o.limit !== undefined || o.softLimit !== undefined) {
      const base: EntitlementConfig =
        entitlement?.type === 'metered'
          ? entitlement
          : { type: 'metered', softLimit: false, usagePeriod: 'P1M' };
      entitlement = {
        ...base,
        limit: o.limit === undefined ? base.limit : (o.limit ?? undefined),
        softLimit: o.softLimit ?? base.softLimit,
      };
    }
    // A trial's prices stay free: overrides change limits there, not prices.
    const price = phase.trial ? rc.price : o.price === undefined ? rc.price : o.price;
    rateCards.push({ ...rc, name: o.name ?? rc.name, price, entitlement });
  }
  const known = new Set(phase.rateCards.map((rc) => rc.key));
  for (const [key, o] of Object.entries(cards)) {
    if (known.has(key) || o.remove) continue;
    let entitlement = o.entitlement ?? undefined;
    if (o.limit !== undefined || o.softLimit !== undefined) {
      entitlement = {
        type: 'metered',
        limit: o.limit ?? undefined,
        softLimit: o.softLimit ?? false,
        usagePeriod: 'P1M',
      };
    }
    rateCards.push({
      key,
      name: o.name,
      feature: o.feature,
      price: phase.trial ? null : (o.price ?? null),
      entitlement,
    });
  }
  const rateLimit =
    overrides.rateLimit !== undefined
      ? overrides.rateLimit
      : (phase.rateLimit ?? definition.rateLimit ?? null);
  return {
    planKey: definition.key,
    planVersion: version,
    planName: definition.name,
    currency: definition.currency,
    billingCadence: definition.billingCadence,
    phaseKey: phase.key,
    trial: phase.trial,
    rateCards,
    rateLimit,
  };
}

/** Checks overrides against the plan: added rate cards need a feature the catalog knows. */
export function validateOverrides(
  definition: PlanDefinition,
  overrides: ContractOverrides,
  features: ReadonlySet<string>,
): void {
  const planCards = new Set(definition.phases.flatMap((p) => p.rateCards.map((rc) => rc.key)));
  const errors: { path: string; message: string }[] = [];
  for (const [key, o] of Object.entries(overrides.rateCards ?? {})) {
    if (planCards.has(key)) {
      if (o.feature !== undefined) {
        errors.push({
          path: `rateCards.${key}.feature`,
          message: 'the feature of a plan rate card cannot change',
        });
      }
      continue;
    }
    if (o.remove) continue;
    if (!o.feature) {
      errors.push({
        path: `rateCards.${key}.feature`,
        message: `plan "${definition.key}" has no rate card "${key}"; a rate card added by contract needs a feature`,
      });
    } else if (!features.has(o.feature)) {
      errors.push({ path: `rateCards.${key}.feature`, message: `unknown feature "${o.feature}"` });
    }
  }
  if (errors.length > 0) throw problems.validation('The contract overrides are not valid.', errors);
}

/**
 * Applies the config's `billing.pricing` hook to one amount (a line, a preview line). Billing
 * and previews call this with the same input, so both show the same amount. A hook returning
 * nothing keeps the amount; anything but a decimal string is a configuration error.
 */
export function applyPricingHook(hook: PricingHook | undefined, input: PricingHookInput): string {
  if (!hook) return input.amount;
  const result = hook(input);
  if (result === undefined) return input.amount;
  if (!isMoneyString(result)) {
    throw problems.internal(
      `billing.pricing returned ${JSON.stringify(result)} for rate card "${input.rateCardKey}"; it must return a decimal string such as "39.20"`,
    );
  }
  return result;
}
