import type { RateCardConfig, ResolvedConfig } from './schema.ts';

type Issue = { path: string; message: string };

/** Cross-references the schema alone cannot check: features → meters, rate cards → features, … */
export function validateReferences(config: ResolvedConfig): Issue[] {
  return [
    ...duplicateIssues(
      config.meters.map((m) => m.slug),
      'meters',
      'meter slug',
    ),
    ...duplicateIssues(
      config.features.map((f) => f.key),
      'features',
      'feature key',
    ),
    ...duplicateIssues(
      config.plans.map((p) => p.key),
      'plans',
      'plan key',
    ),
    ...meterIssues(config),
    ...featureIssues(config),
    ...planIssues(config),
    ...routeIssues(config),
    ...couponIssues(config),
  ];
}

/** Each key after its first occurrence in `list`, as a "duplicate" issue at its index. */
function duplicateIssues(list: string[], path: string, what: string): Issue[] {
  const issues: Issue[] = [];
  const seen = new Set<string>();
  list.forEach((k, i) => {
    if (seen.has(k)) issues.push({ path: `${path}[${i}]`, message: `duplicate ${what} "${k}"` });
    seen.add(k);
  });
  return issues;
}

function meterIssues(config: ResolvedConfig): Issue[] {
  const issues: Issue[] = [];
  config.meters.forEach((m, i) => {
    if (m.aggregation !== 'COUNT' && !m.valueProperty) {
      issues.push({
        path: `meters[${i}].valueProperty`,
        message: `aggregation ${m.aggregation} needs a valueProperty`,
      });
    }
    // As in OpenMeter, `subject` is the reserved group-by of meter queries (groupBy=subject).
    if ('subject' in m.groupBy) {
      issues.push({
        path: `meters[${i}].groupBy.subject`,
        message:
          '"subject" is reserved (queries group by the event subject with groupBy=subject); rename the dimension',
      });
    }
  });
  return issues;
}

/** Features name a meter that exists, and filter only on dimensions that meter groups by. */
function featureIssues(config: ResolvedConfig): Issue[] {
  const issues: Issue[] = [];
  const meters = new Map(config.meters.map((m) => [m.slug, m]));
  config.features.forEach((f, i) => {
    if (!f.meter) return;
    const meter = meters.get(f.meter);
    if (!meter) {
      issues.push({ path: `features[${i}].meter`, message: `unknown meter "${f.meter}"` });
      return;
    }
    for (const dim of Object.keys(f.meterGroupByFilters ?? {})) {
      if (!(dim in meter.groupBy)) {
        issues.push({
          path: `features[${i}].meterGroupByFilters.${dim}`,
          message: `meter "${meter.slug}" has no groupBy "${dim}"`,
        });
      }
    }
  });
  return issues;
}

/** Every phase of every plan: rate card keys once each, and each rate card's references. */
function planIssues(config: ResolvedConfig): Issue[] {
  const issues: Issue[] = [];
  const features = new Set(config.features.map((f) => f.key));
  config.plans.forEach((plan, p) => {
    const phases = plan.phases ?? [{ key: 'default', rateCards: plan.rateCards ?? [] }];
    phases.forEach((phase, ph) => {
      const base = plan.phases ? `plans[${p}].phases[${ph}].rateCards` : `plans[${p}].rateCards`;
      issues.push(
        ...duplicateIssues(
          phase.rateCards.map((rc) => rc.key),
          base,
          'rate card key',
        ),
      );
      phase.rateCards.forEach((rc, r) => {
        issues.push(...rateCardIssues(config, features, rc, `${base}[${r}]`));
      });
    });
  });
  return issues;
}

/** One rate card: a known feature, a feature for usage prices and metered entitlements, price rules. */
function rateCardIssues(
  config: ResolvedConfig,
  features: Set<string>,
  rc: RateCardConfig,
  path: string,
): Issue[] {
  const issues: Issue[] = [];
  if (rc.feature && !features.has(rc.feature)) {
    issues.push({ path: `${path}.feature`, message: `unknown feature "${rc.feature}"` });
  }
  if (rc.price && rc.price.type !== 'flat' && !rc.feature) {
    issues.push({
      path: `${path}.price`,
      message: 'a usage-based price needs a feature to meter',
    });
  }
  if (rc.entitlement?.type === 'metered') {
    const feature = config.features.find((f) => f.key === rc.feature);
    if (!feature?.meter) {
      issues.push({
        path: `${path}.entitlement`,
        message: 'a metered entitlement needs a feature with a meter',
      });
    }
  }
  issues.push(...pricingIssues(config, rc, path));
  return issues;
}

/** Routes (their per-model features, and `gateway.defaultFeature`) name features that exist. */
function routeIssues(config: ResolvedConfig): Issue[] {
  const issues: Issue[] = [];
  const features = new Set(config.features.map((f) => f.key));
  const fallback = config.gateway.defaultFeature;
  if (fallback !== undefined && !features.has(fallback)) {
    issues.push({
      path: 'gateway.defaultFeature',
      message: `unknown feature "${fallback}" (declare it in features)`,
    });
  }
  config.routes.forEach((route, i) => {
    if (route.feature && !features.has(route.feature)) {
      issues.push({ path: `routes[${i}].feature`, message: `unknown feature "${route.feature}"` });
    }
    for (const [model, feature] of Object.entries(route.models ?? {})) {
      if (!features.has(feature)) {
        issues.push({ path: `routes[${i}].models.${model}`, message: `unknown feature "${feature}"` });
      }
    }
  });
  return issues;
}

/** Config coupons: one code once, and rate card keys some plan has (a typo would discount nothing). */
function couponIssues(config: ResolvedConfig): Issue[] {
  const issues: Issue[] = [];
  const coupons = config.billing.coupons ?? [];
  const cards = new Set(
    config.plans.flatMap((p) =>
      (p.phases ?? [{ rateCards: p.rateCards ?? [] }]).flatMap((ph) => ph.rateCards.map((rc) => rc.key)),
    ),
  );
  const seen = new Set<string>();
  coupons.forEach((c, i) => {
    if (seen.has(c.code))
      issues.push({ path: `billing.coupons[${i}].code`, message: `duplicate coupon code "${c.code}"` });
    seen.add(c.code);
    c.rateCardKeys.forEach((key, k) => {
      if (!cards.has(key))
        issues.push({
          path: `billing.coupons[${i}].rateCardKeys[${k}]`,
          message: `no plan has a rate card "${key}"`,
        });
    });
  });
  return issues;
}

/**
 * Price rules that depend on the rest of the config. The `billing.pricing` hook changes one
 * amount per rate card: it cannot apply to a tiered price (many amounts) or a take rate (a
 * percentage), so configuring both is refused here instead of billing the list price silently.
 */
function pricingIssues(config: ResolvedConfig, rc: RateCardConfig, path: string): Issue[] {
  const issues: Issue[] = [];
  const price = rc.price;
  if (!price) return issues;
  if (config.billing.pricing && (price.type === 'tiered' || price.type === 'percentage')) {
    issues.push({
      path: `${path}.price`,
      message: `billing.pricing cannot apply to a ${price.type} price (it changes a single amount); give this customer a discount or a coupon instead, or remove the hook`,
    });
  }
  if (price.type === 'percentage' && rc.feature) {
    const feature = config.features.find((f) => f.key === rc.feature);
    const meter = config.meters.find((m) => m.slug === feature?.meter);
    if (meter && meter.aggregation !== 'SUM') {
      issues.push({
        path: `${path}.price`,
        message: `a percentage price needs a SUM meter whose events carry the transaction amount; meter "${meter.slug}" aggregates ${meter.aggregation}`,
      });
    }
  }
  return issues;
}
