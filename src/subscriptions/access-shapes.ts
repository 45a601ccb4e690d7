import type { Feature } from '../catalog/index.ts';
import type { EntitlementInfo } from '../config/index.ts';
import { ProblemError } from '../http/problem.ts';
import type { RateLimitSpec } from '../ratelimit/types.ts';
import { parseWindow } from '../util/duration.ts';
import type { AccessView, QuotaView } from './access.ts';
import type { EffectivePlan } from './contracts.ts';
import type { Subscription } from './model.ts';
import { usagePeriodAt } from './periods.ts';

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

/** Why a subscription's calls are refused whatever its plan grants: canceled (403) or suspended (402). */
export function statusProblem(
  sub: Subscription,
  planName: string,
  upgradeUrl: string,
  payUrl: string,
): ProblemError | null {
  if (sub.status === 'canceled') {
    return new ProblemError({
      status: 403,
      type: 'subscription-canceled',
      title: 'Subscription canceled',
      detail: `The subscription to ${planName} was canceled; subscribe again to use the API.`,
      extensions: { subscriptionId: sub.id, upgradeUrl },
    });
  }
  if (sub.status === 'suspended') {
    return new ProblemError({
      status: 402,
      type: 'payment-required',
      title: 'Payment required',
      detail: 'The subscription is suspended for non-payment; pay the open invoice to continue.',
      extensions: { subscriptionId: sub.id, payUrl },
    });
  }
  return null;
}

/**
 * A subscriber's quotas at `now` from its shape's templates, and until when they hold: the end
 * of the billing period, the next phase, a scheduled change, or a usage period, whichever is first.
 */
export function quotasOf(
  shape: Shape,
  sub: Subscription,
  phaseIndex: number,
  now: Date,
  customerId: string,
  seedUsage: SeedUsage,
): { quotas: Record<string, QuotaView>; validUntil: number } {
  const quotas: Record<string, QuotaView> = {};
  let validUntil = sub.currentPeriod.to.getTime();
  const nextPhase = sub.phases[phaseIndex + 1];
  if (nextPhase) validUntil = Math.min(validUntil, nextPhase.from.getTime());
  if (sub.pendingChange) validUntil = Math.min(validUntil, sub.pendingChange.effectiveAt.getTime());
  const billing = sub.currentPeriod;
  for (const q of shape.quotas) {
    const period = usagePeriodAt(sub.phases, q.usagePeriod, now);
    // Usage period = billing period (the common case): share its Date objects.
    const from = period.from.getTime() === billing.from.getTime() ? billing.from : period.from;
    const to = period.to.getTime() === billing.to.getTime() ? billing.to : period.to;
    quotas[q.featureKey] = new Quota(
      q,
      `q:${sub.id}:${q.featureKey}:${from.getTime()}`,
      from,
      to,
      customerId,
      seedUsage,
    );
    validUntil = Math.min(validUntil, to.getTime());
  }
  return { quotas, validUntil };
}

/** The view of a key whose customer no longer exists: every call refused (403). */
export function unknownCustomerView(customerId: string, upgradeUrl: string): AccessView {
  return blockedView(
    customerId,
    new ProblemError({
      status: 403,
      type: 'customer-not-found',
      title: 'Unknown customer',
      detail: 'The customer of this API key no longer exists.',
    }),
    upgradeUrl,
  );
}

/** The view of a key whose subscription does not exist (or is another customer's): refused (403). */
export function unknownSubscriptionView(customer: AccessView['customer'], upgradeUrl: string): AccessView {
  return {
    ...blockedView(
      customer.id,
      new ProblemError({
        status: 403,
        type: 'subscription-not-found',
        title: 'No subscription',
        detail: `The subscription of this API key does not exist.`,
        extensions: { upgradeUrl },
      }),
      upgradeUrl,
    ),
    customer,
  };
}
