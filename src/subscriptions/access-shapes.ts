import type { Feature } from '../catalog/index.ts';
import type { EntitlementInfo } from '../config/index.ts';
import type { ProblemError } from '../http/problem.ts';
import type { RateLimitSpec } from '../ratelimit/types.ts';
import { parseWindow } from '../util/duration.ts';
import type { AccessView, QuotaView } from './access.ts';
import type { EffectivePlan } from './contracts.ts';

/**
 * The parts of an access view that do not depend on the subscriber: what a plan phase grants
 * (its shape, shared by every subscriber on the same terms) and the quotas built from it.
 */
export type SeedUsage = (feature: Feature, customerId: string, from: Date, to: Date) => Promise<number>;

export /** A quota of one view; `seed` lives on the prototype, so views hold no closures. */
class Quota implements QuotaView {
  readonly featureKey: string;
  readonly meterSlug: string;
  readonly counterKey: string;
  readonly limit: number;
  readonly soft: boolean;
  readonly periodStart: Date;
  readonly resetAt: Date;
  readonly #template: QuotaTemplate;
  readonly #customerId: string;
  readonly #seedUsage: SeedUsage;
  constructor(
    template: QuotaTemplate,
    counterKey: string,
    from: Date,
    to: Date,
    customerId: string,
    seedUsage: SeedUsage,
  ) {
    this.featureKey = template.featureKey;
    this.meterSlug = template.meterSlug;
    this.counterKey = counterKey;
    this.limit = template.limit;
    this.soft = template.soft;
    this.periodStart = from;
    this.resetAt = to;
    this.#template = template;
    this.#customerId = customerId;
    this.#seedUsage = seedUsage;
  }
  seed(): Promise<number> {
    return this.#seedUsage(this.#template.feature, this.#customerId, this.periodStart, this.resetAt);
  }
}

export interface QuotaTemplate {
  feature: Feature;
  featureKey: string;
  meterSlug: string;
  limit: number;
  soft: boolean;
  usagePeriod: string;
}

export interface Shape {
  plan: { readonly key: string; readonly version: number; readonly name: string };
  phaseKey: string;
  entitlements: Readonly<Record<string, EntitlementInfo>>;
  rateLimit: RateLimitSpec | null;
  quotas: QuotaTemplate[];
}

/**
 * What a plan version's phase (with a contract) grants, shared by every subscriber with the same
 * terms: 100k keys on five plans hold a handful of these, not 100k copies.
 */
export function shapeOf(effective: EffectivePlan, featureByKey: Map<string, Feature>): Shape {
  const entitlements: Record<string, EntitlementInfo> = {};
  const quotas: QuotaTemplate[] = [];
  for (const rc of effective.rateCards) {
    if (!rc.feature) continue;
    const feature = featureByKey.get(rc.feature);
    const ent = rc.entitlement;
    let info: EntitlementInfo;
    if (ent?.type === 'metered') {
      info = {
        featureKey: rc.feature,
        type: 'metered',
        hasAccess: true,
        limit: ent.limit,
        softLimit: ent.softLimit,
      };
    } else if (ent?.type === 'static') {
      info = {
        featureKey: rc.feature,
        type: 'static',
        hasAccess: true,
        config: Object.freeze({ ...ent.config }),
      };
    } else if (ent?.type === 'boolean') {
      info = { featureKey: rc.feature, type: 'boolean', hasAccess: true };
    } else {
      // A priced feature without an entitlement template (pay as you go): usable, unlimited.
      info = feature?.meter
        ? { featureKey: rc.feature, type: 'metered', hasAccess: true }
        : { featureKey: rc.feature, type: 'boolean', hasAccess: true };
    }
    const previous = entitlements[rc.feature];
    // Several rate cards may name one feature (a price and a limit): the one with a limit wins.
    if (previous && !(ent && !(previous.type === 'metered' && previous.limit !== undefined))) continue;
    entitlements[rc.feature] = Object.freeze(info);
    const index = quotas.findIndex((q) => q.featureKey === rc.feature);
    if (index >= 0) quotas.splice(index, 1);
    if (ent?.type === 'metered' && ent.limit !== undefined && feature?.meter) {
      quotas.push({
        feature,
        featureKey: rc.feature,
        meterSlug: feature.meter,
        limit: ent.limit,
        soft: ent.softLimit,
        usagePeriod: ent.usagePeriod,
      });
    }
  }
  let rateLimit: RateLimitSpec | null = null;
  if (effective.rateLimit) {
    const windowMs = parseWindow(effective.rateLimit.window);
    if (windowMs)
      rateLimit = Object.freeze({
        limit: effective.rateLimit.limit,
        windowMs,
        burst: effective.rateLimit.burst,
      });
  }
  return {
    plan: Object.freeze({
      key: effective.planKey,
      version: effective.planVersion,
      name: effective.planName,
    }),
    phaseKey: effective.phaseKey,
    entitlements: Object.freeze(entitlements),
    rateLimit,
    quotas,
  };
}

export function blockedView(customerId: string, problem: ProblemError, upgradeUrl: string): AccessView {
  return {
    customer: { id: customerId, name: '', metadata: {} },
    subscription: null,
    entitlements: {},
    rateLimit: null,
    quotas: {},
    blocked: problem,
    upgradeUrl,
  };
}
