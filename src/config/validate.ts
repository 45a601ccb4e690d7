import type { RateCardConfig, ResolvedConfig } from './schema.ts';

/** Cross-references the schema alone cannot check: features → meters, rate cards → features, … */
export function validateReferences(config: ResolvedConfig): { path: string; message: string }[] {
  const issues: { path: string; message: string }[] = [];
  const dup = (list: string[], path: string, what: string) => {
    const seen = new Set<string>();
    list.forEach((k, i) => {
      if (seen.has(k)) issues.push({ path: `${path}[${i}]`, message: `duplicate ${what} "${k}"` });
      seen.add(k);
    });
  };
  dup(
    config.meters.map((m) => m.slug),
    'meters',
    'meter slug',
  );
  dup(
    config.features.map((f) => f.key),
    'features',
    'feature key',
  );
  dup(
    config.plans.map((p) => p.key),
    'plans',
    'plan key',
  );

  const meters = new Map(config.meters.map((m) => [m.slug, m]));
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
  const features = new Set(config.features.map((f) => f.key));
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
  config.plans.forEach((plan, p) => {
    const phases = plan.phases ?? [{ key: 'default', rateCards: plan.rateCards ?? [] }];
    phases.forEach((phase, ph) => {
      const base = plan.phases ? `plans[${p}].phases[${ph}].rateCards` : `plans[${p}].rateCards`;
      dup(
        phase.rateCards.map((rc) => rc.key),
        base,
        'rate card key',
      );
      phase.rateCards.forEach((rc, r) => {
        if (rc.feature && !features.has(rc.feature)) {
          issues.push({ path: `${base}[${r}].feature`, message: `unknown feature "${rc.feature}"` });
        }
        if (rc.price && rc.price.type !== 'flat' && !rc.feature) {
          issues.push({
            path: `${base}[${r}].price`,
            message: 'a usage-based price needs a feature to meter',
          });
        }
        if (rc.entitlement?.type === 'metered') {
          const feature = config.features.find((f) => f.key === rc.feature);
          if (!feature?.meter) {
            issues.push({
              path: `${base}[${r}].entitlement`,
              message: 'a metered entitlement needs a feature with a meter',
            });
          }
        }
        issues.push(...pricingIssues(config, rc, `${base}[${r}]`));
      });
    });
  });
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
  issues.push(...couponIssues(config));
  return issues;
}

/** Config coupons: one code once, and rate card keys some plan has (a typo would discount nothing). */
function couponIssues(config: ResolvedConfig): { path: string; message: string }[] {
  const issues: { path: string; message: string }[] = [];
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
function pricingIssues(
  config: ResolvedConfig,
  rc: RateCardConfig,
  path: string,
): { path: string; message: string }[] {
  const issues: { path: string; message: string }[] = [];
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
