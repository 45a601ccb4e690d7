import { Decimal } from 'decimal.js';
import type {
  IncludedCreditsConfig,
  PlanConfig,
  PriceConfig,
  RateCardConfig,
  ResolvedConfig,
} from '../config/index.ts';
import { isoDurationDays } from '../util/duration.ts';

/**
 * The pricing page's view of the public catalog: one entry per public plan with its base price,
 * included quotas, rate limit and per-unit prices (token prices are also given per 1M units so
 * tiny unit prices stay readable).
 */
export interface PlanFeatureView {
  rateCardKey: string;
  featureKey: string | null;
  name: string;
  meter: string | null;
  included: number | null;
  unlimited: boolean;
  soft: boolean;
  usagePeriod: string | null;
  boolean: boolean;
  price: PriceConfig | null;
  /** Unit price ×1,000,000 for unit prices, as a decimal string. */
  perMillion: string | null;
  /** Human summary of the price, e.g. "$0.01 / unit after 10,000". */
  priceText: string | null;
}

export interface PlanView {
  key: string;
  name: string;
  description: string | null;
  currency: string;
  billingCadence: string;
  /** Sum of flat in-advance prices per period. */
  basePrice: string;
  free: boolean;
  trialDays: number | null;
  rateLimit: { limit: number; window: string } | null;
  /** Prepaid credits granted at the start of every billing period (of the paid phase). */
  credits: { amount: string; expiresAfter: 'period' | { days: number } } | null;
  features: PlanFeatureView[];
}

function fmt(amount: Decimal.Value, currency: string): string {
  const d = new Decimal(amount);
  const symbol =
    currency === 'USD' ? '$' : currency === 'EUR' ? '€' : currency === 'GBP' ? '£' : `${currency} `;
  const digits = Math.max(d.decimalPlaces(), 2);
  return `${symbol}${d.toFixed(digits)}`;
}

function priceText(price: PriceConfig | null, currency: string): string | null {
  const text = basePriceText(price, currency);
  const included = price && 'includedUnits' in price ? price.includedUnits : undefined;
  return text && included ? `${text}, first ${included.toLocaleString('en-US')} included` : text;
}

function basePriceText(price: PriceConfig | null, currency: string): string | null {
  if (!price) return null;
  switch (price.type) {
    case 'flat':
      return `${fmt(price.amount, currency)} flat`;
    case 'unit':
      return `${fmt(price.amount, currency)} / unit`;
    case 'package':
      return `${fmt(price.amount, currency)} per ${price.quantityPerPackage.toLocaleString('en-US')} units`;
    case 'tiered': {
      // The common "included units, then a unit price" shape reads as one phrase.
      const [first, second, third] = price.tiers;
      const isFree = (t: typeof first) =>
        !t?.flatPrice && (!t?.unitPrice || new Decimal(t.unitPrice).isZero());
      if (
        price.mode === 'graduated' &&
        first?.upTo &&
        isFree(first) &&
        second &&
        !third &&
        !second.flatPrice &&
        second.unitPrice
      ) {
        return `${fmt(second.unitPrice, currency)} each over ${first.upTo.toLocaleString('en-US')}`;
      }
      const parts: string[] = [];
      let from = 0;
      for (const tier of price.tiers) {
        const range = tier.upTo
          ? `${from.toLocaleString('en-US')}–${tier.upTo.toLocaleString('en-US')}`
          : `over ${from.toLocaleString('en-US')}`;
        const unit = tier.unitPrice ? `${fmt(tier.unitPrice, currency)}/unit` : '';
        const flat = tier.flatPrice ? `${fmt(tier.flatPrice, currency)} flat` : '';
        parts.push(`${range}: ${[unit, flat].filter(Boolean).join(' + ') || 'free'}`);
        from = tier.upTo ?? from;
      }
      return `${price.mode === 'graduated' ? 'Graduated' : 'Volume'} — ${parts.join('; ')}`;
    }
    case 'percentage':
      return `${price.rate}% per transaction${price.fixedFee ? ` + ${fmt(price.fixedFee, currency)}` : ''}`;
  }
}

function rateCardsOf(plan: PlanConfig): RateCardConfig[] {
  if (plan.rateCards) return plan.rateCards;
  const phases = plan.phases ?? [];
  // The pricing page shows the plan as it runs after any trial: the last phase.
  return phases[phases.length - 1]?.rateCards ?? [];
}

function creditsOf(plan: PlanConfig): IncludedCreditsConfig | null {
  if (plan.rateCards) return plan.credits ?? null;
  return plan.phases?.[plan.phases.length - 1]?.credits ?? null;
}

export function planView(config: ResolvedConfig, plan: PlanConfig): PlanView {
  const features = new Map(config.features.map((f) => [f.key, f]));
  let base = new Decimal(0);
  const views: PlanFeatureView[] = [];
  for (const card of rateCardsOf(plan)) {
    const price = card.price ?? null;
    if (price?.type === 'flat' && !card.feature) {
      base = base.plus(price.amount);
      continue;
    }
    const feature = card.feature ? features.get(card.feature) : undefined;
    const ent = card.entitlement;
    views.push({
      rateCardKey: card.key,
      featureKey: card.feature ?? null,
      name: card.name ?? feature?.name ?? card.key,
      meter: feature?.meter ?? null,
      included: ent?.type === 'metered' ? (ent.limit ?? null) : null,
      unlimited: ent?.type === 'metered' && ent.limit === undefined,
      soft: ent?.type === 'metered' ? ent.softLimit : false,
      usagePeriod: ent?.type === 'metered' ? ent.usagePeriod : null,
      boolean: ent?.type === 'boolean',
      price,
      perMillion: price?.type === 'unit' ? new Decimal(price.amount).times(1_000_000).toFixed() : null,
      priceText: priceText(price, plan.currency),
    });
  }
  const rateLimit = plan.rateLimit ?? plan.phases?.[plan.phases.length - 1]?.rateLimit ?? null;
  const hasPrice = rateCardsOf(plan).some((c) => c.price !== null && c.price !== undefined);
  const trialDays = plan.trialDays ?? null;
  const credits = creditsOf(plan);
  return {
    key: plan.key,
    name: plan.name,
    description: plan.description ?? null,
    currency: plan.currency,
    billingCadence: plan.billingCadence,
    basePrice: base.toFixed(2),
    free: !hasPrice,
    trialDays,
    rateLimit: rateLimit ? { limit: rateLimit.limit, window: rateLimit.window } : null,
    credits: credits ? { amount: credits.amount, expiresAfter: credits.expiresAfter } : null,
    features: views,
  };
}

/** A published plan definition (always phased) in the config's shape. */
export function definitionAsPlan(definition: {
  key: string;
  name: string;
  description?: string;
  currency: string;
  billingCadence: string;
  public: boolean;
  rateLimit?: PlanConfig['rateLimit'];
  phases: {
    key: string;
    duration?: string;
    trial: boolean;
    rateCards: RateCardConfig[];
    rateLimit?: PlanConfig['rateLimit'];
    credits?: IncludedCreditsConfig;
  }[];
}): PlanConfig {
  const trial = definition.phases.find((p) => p.trial);
  const days = trial?.duration ? isoDurationDays(trial.duration) : null;
  return {
    key: definition.key,
    name: definition.name,
    description: definition.description,
    currency: definition.currency,
    billingCadence: definition.billingCadence,
    public: definition.public,
    rateLimit: definition.rateLimit,
    phases: definition.phases.map((p) => ({ ...p, rateCards: p.rateCards })),
    trialDays: days ?? undefined,
  } as PlanConfig;
}

export function publicPlans(config: ResolvedConfig): PlanView[] {
  return config.plans.filter((p) => p.public).map((p) => planView(config, p));
}
