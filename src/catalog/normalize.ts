import { createHash } from 'node:crypto';
import type { PlanConfig, RateCardConfig } from '../config/index.ts';
import type { PhaseDefinition, PlanDefinition } from './model.ts';

/**
 * Turns a plan of the config into its stored definition: phases explicit, undefined members
 * dropped, so two equal plans produce the same canonical JSON (and hash).
 *
 * `trialDays: 14` becomes a first phase `trial` lasting P14D with the same entitlements as the
 * paid phase and no prices: a trial gives the plan's access for free.
 */
export function normalizePlan(plan: PlanConfig): PlanDefinition {
  let phases: PhaseDefinition[];
  if (plan.phases) {
    phases = plan.phases.map((phase) => ({
      key: phase.key,
      name: phase.name,
      duration: phase.duration,
      trial: phase.trial,
      rateCards: phase.rateCards,
      rateLimit: phase.rateLimit,
      credits: phase.credits,
    }));
  } else {
    phases = [{ key: 'default', trial: false, rateCards: plan.rateCards ?? [], credits: plan.credits }];
  }
  if (plan.trialDays) {
    const paid = phases.find((p) => !p.trial) ?? phases[0];
    const trialCards: RateCardConfig[] = (paid?.rateCards ?? []).map((rc) => ({ ...rc, price: null }));
    phases = [
      {
        key: 'trial',
        name: 'Free trial',
        duration: `P${plan.trialDays}D`,
        trial: true,
        rateCards: trialCards,
      },
      ...phases,
    ];
  }
  return canonical({
    key: plan.key,
    name: plan.name,
    description: plan.description,
    currency: plan.currency,
    billingCadence: plan.billingCadence,
    billingAnchor: typeof plan.billingAnchor === 'object' ? plan.billingAnchor : undefined,
    public: plan.public,
    rateLimit: plan.rateLimit,
    phases,
  }) as PlanDefinition;
}

/** Deep copy with object keys sorted and undefined members removed. */
export function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value && typeof value === 'object' && !(value instanceof Date)) {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[key];
      if (v !== undefined) out[key] = canonical(v);
    }
    return out;
  }
  return value;
}

export function definitionHash(definition: PlanDefinition): string {
  return createHash('sha256')
    .update(JSON.stringify(canonical(definition)))
    .digest('hex');
}

/** The phase of a definition by key; a key the version no longer has falls back to its last phase. */
export function phaseOf(definition: PlanDefinition, phaseKey: string): PhaseDefinition {
  return (
    definition.phases.find((p) => p.key === phaseKey) ?? definition.phases[definition.phases.length - 1]!
  );
}
