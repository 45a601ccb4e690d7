import type { EntitlementConfig, PriceConfig, RateLimitConfig } from '../config/index.ts';
import type { PlanDefinition, RateCardConfig } from './model.ts';
import { canonical } from './normalize.ts';

/**
 * What changed between two versions of a plan, one line per rate card / price / limit, for
 * `tollgate plans diff` and the push summary. Pure.
 */
export interface PlanChange {
  kind: 'added' | 'removed' | 'changed';
  /** Where, e.g. `phases.default.rateCards.requests.entitlement.limit`. */
  path: string;
  before?: string;
  after?: string;
}

const same = (a: unknown, b: unknown) => JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));

export function describePrice(price: PriceConfig | null | undefined): string {
  if (!price) return 'free';
  switch (price.type) {
    case 'flat':
      return `flat ${price.amount} ${price.paymentTerm === 'in_arrears' ? 'in arrears' : 'in advance'}`;
    case 'unit':
      return `${price.amount} per unit${included(price)}${commitments(price)}`;
    case 'package':
      return `${price.amount} per ${price.quantityPerPackage} units${included(price)}${commitments(price)}`;
    case 'tiered':
      return `${price.mode} tiers ${price.tiers
        .map(
          (t) => `[≤${t.upTo ?? '∞'}: ${t.unitPrice ?? '0'}/unit${t.flatPrice ? ` + ${t.flatPrice}` : ''}]`,
        )
        .join(' ')}${included(price)}${commitments(price)}`;
    case 'percentage':
      return `${price.rate}% per transaction${price.fixedFee ? ` + ${price.fixedFee}` : ''}${takeRateLimits(price)}${commitments(price)}`;
  }
}

function included(price: { includedUnits?: number }): string {
  return price.includedUnits ? ` (${price.includedUnits} included)` : '';
}

function takeRateLimits(price: Extract<PriceConfig, { type: 'percentage' }>): string {
  const parts: string[] = [];
  if (price.minimumPerTransaction) parts.push(`min ${price.minimumPerTransaction} each`);
  if (price.maximumPerTransaction) parts.push(`max ${price.maximumPerTransaction} each`);
  if (price.freeTransactions) parts.push(`first ${price.freeTransactions} free`);
  if (price.freeAmount) parts.push(`first ${price.freeAmount} free`);
  return parts.length ? ` [${parts.join(', ')}]` : '';
}

function commitments(price: { minimumAmount?: string; maximumAmount?: string }): string {
  const parts: string[] = [];
  if (price.minimumAmount) parts.push(`min ${price.minimumAmount}`);
  if (price.maximumAmount) parts.push(`max ${price.maximumAmount}`);
  return parts.length ? ` (${parts.join(', ')})` : '';
}

export function describeEntitlement(entitlement: EntitlementConfig | undefined): string {
  if (!entitlement) return 'none';
  switch (entitlement.type) {
    case 'boolean':
      return 'access';
    case 'static':
      return `config ${JSON.stringify(entitlement.config)}`;
    case 'metered':
      return entitlement.limit === undefined
        ? `metered, unlimited per ${entitlement.usagePeriod}`
        : `${entitlement.limit} per ${entitlement.usagePeriod} (${entitlement.softLimit ? 'soft: overage billed' : 'hard'})`;
  }
}

export function describeRateLimit(rateLimit: RateLimitConfig | undefined): string {
  if (!rateLimit) return 'none';
  return `${rateLimit.limit}/${rateLimit.window}${rateLimit.burst !== undefined ? ` burst ${rateLimit.burst}` : ''}`;
}

function describeRateCard(rc: RateCardConfig): string {
  const parts = [rc.feature ? `feature ${rc.feature}` : null, describePrice(rc.price)];
  if (rc.entitlement) parts.push(describeEntitlement(rc.entitlement));
  return parts.filter(Boolean).join(', ');
}

/** Records a field's change (added, removed or changed) under `path`; equal values record nothing. */
type Field = (path: string, a: unknown, b: unknown, show?: (v: unknown) => string) => void;

/** A phase's rate cards, matched by key: added, removed, and changes of name, feature, price and entitlement. */
function diffRateCards(
  base: string,
  before: readonly RateCardConfig[],
  after: readonly RateCardConfig[],
  field: Field,
  changes: PlanChange[],
): void {
  const oldCards = new Map(before.map((rc) => [rc.key, rc]));
  const newCards = new Map(after.map((rc) => [rc.key, rc]));
  for (const [rcKey, rc] of oldCards) {
    if (!newCards.has(rcKey)) {
      changes.push({ kind: 'removed', path: `${base}.rateCards.${rcKey}`, before: describeRateCard(rc) });
    }
  }
  for (const [rcKey, rc] of newCards) {
    const prev = oldCards.get(rcKey);
    const path = `${base}.rateCards.${rcKey}`;
    if (!prev) {
      changes.push({ kind: 'added', path, after: describeRateCard(rc) });
      continue;
    }
    field(`${path}.name`, prev.name, rc.name);
    field(`${path}.feature`, prev.feature, rc.feature);
    field(`${path}.price`, prev.price ?? undefined, rc.price ?? undefined, (v) =>
      describePrice(v as PriceConfig),
    );
    const a = prev.entitlement;
    const b = rc.entitlement;
    if (a?.type === 'metered' && b?.type === 'metered') {
      field(`${path}.entitlement.limit`, a.limit ?? 'unlimited', b.limit ?? 'unlimited');
      field(`${path}.entitlement.softLimit`, a.softLimit, b.softLimit);
      field(`${path}.entitlement.usagePeriod`, a.usagePeriod, b.usagePeriod);
    } else {
      field(`${path}.entitlement`, a, b, (v) => describeEntitlement(v as EntitlementConfig));
    }
  }
}

export function diffPlanDefinitions(
  before: PlanDefinition | null,
  after: PlanDefinition | null,
): PlanChange[] {
  const changes: PlanChange[] = [];
  if (!before && !after) return changes;
  if (!before) return [{ kind: 'added', path: 'plan', after: after!.name }];
  if (!after) return [{ kind: 'removed', path: 'plan', before: before.name }];

  const field: Field = (path, a, b, show = String) => {
    if (same(a, b)) return;
    if (a === undefined) changes.push({ kind: 'added', path, after: show(b) });
    else if (b === undefined) changes.push({ kind: 'removed', path, before: show(a) });
    else changes.push({ kind: 'changed', path, before: show(a), after: show(b) });
  };
  field('name', before.name, after.name);
  field('description', before.description, after.description);
  field('currency', before.currency, after.currency);
  field('billingCadence', before.billingCadence, after.billingCadence);
  field('public', before.public, after.public);
  field('rateLimit', before.rateLimit, after.rateLimit, (v) => describeRateLimit(v as RateLimitConfig));

  const oldPhases = new Map(before.phases.map((p) => [p.key, p]));
  const newPhases = new Map(after.phases.map((p) => [p.key, p]));
  for (const [key, phase] of oldPhases) {
    if (!newPhases.has(key))
      changes.push({ kind: 'removed', path: `phases.${key}`, before: phase.name ?? key });
  }
  for (const [key, phase] of newPhases) {
    const old = oldPhases.get(key);
    if (!old) {
      changes.push({
        kind: 'added',
        path: `phases.${key}`,
        after: `${phase.trial ? 'trial ' : ''}${phase.duration ?? 'until the end'}`,
      });
      for (const rc of phase.rateCards) {
        changes.push({
          kind: 'added',
          path: `phases.${key}.rateCards.${rc.key}`,
          after: describeRateCard(rc),
        });
      }
      continue;
    }
    const base = `phases.${key}`;
    field(`${base}.duration`, old.duration, phase.duration);
    field(`${base}.trial`, old.trial, phase.trial);
    field(`${base}.rateLimit`, old.rateLimit, phase.rateLimit, (v) =>
      describeRateLimit(v as RateLimitConfig),
    );
    diffRateCards(base, old.rateCards, phase.rateCards, field, changes);
  }
  return changes;
}
