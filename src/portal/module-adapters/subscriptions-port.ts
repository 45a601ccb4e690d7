import type { CatalogService, PlanDefinition } from '../../catalog/index.ts';
import { ProblemError, problems } from '../../http/problem.ts';
import {
  type EntitlementBalanceReader,
  phaseIndexAt,
  type Subscription,
  type SubscriptionService,
} from '../../subscriptions/index.ts';
import type { Clock } from '../../util/clock.ts';
import { Decimal } from '../../util/money.ts';
import type { SubscriptionsPort, SubscriptionView } from '../dependencies.ts';

/** Sum of the flat, feature-less prices of a plan's last phase: what "upgrade" vs "downgrade" compares. */
function basePrice(definition: PlanDefinition): Decimal {
  const phase = definition.phases[definition.phases.length - 1];
  let sum = new Decimal(0);
  for (const card of phase?.rateCards ?? []) {
    if (card.price?.type === 'flat' && !card.feature) sum = sum.plus(card.price.amount);
  }
  return sum;
}

export function subscriptionsPort(deps: {
  subscriptions: SubscriptionService;
  catalog: CatalogService;
  balances: EntitlementBalanceReader;
  clock: Clock;
}): SubscriptionsPort {
  const { subscriptions, catalog, clock } = deps;

  async function view(sub: Subscription): Promise<SubscriptionView> {
    const version = await catalog.getPlanVersionById(sub.planVersionId);
    const phase = sub.phases[phaseIndexAt(sub.phases, clock.now())];
    return {
      id: sub.id,
      customerId: sub.customerId,
      status: sub.status,
      plan: { key: sub.planKey, name: version?.definition.name ?? sub.planKey, version: sub.planVersion },
      phase: phase?.key ?? 'default',
      currentPeriod: {
        from: new Date(sub.currentPeriod.from).toISOString(),
        to: new Date(sub.currentPeriod.to).toISOString(),
      },
      cancelAtPeriodEnd: sub.cancelAtPeriodEnd,
      pendingChange: sub.pendingChange
        ? {
            planKey: sub.pendingChange.planKey,
            effectiveAt: new Date(sub.pendingChange.effectiveAt).toISOString(),
          }
        : null,
      currency: version?.definition.currency ?? 'USD',
    };
  }

  async function own(customerId: string, subscriptionId: string): Promise<Subscription> {
    const sub = await subscriptions.get(subscriptionId);
    if (!sub || sub.customerId !== customerId) throw problems.notFound('No such subscription.');
    return sub;
  }

  return {
    async current(customerId) {
      const sub = await subscriptions.currentForCustomer(customerId);
      return sub && sub.customerId === customerId ? view(sub) : null;
    },
    async subscribe(customerId, planKey) {
      return view(await subscriptions.subscribe({ customerId, planKey }));
    },
    async changePlan(customerId, subscriptionId, planKey) {
      const sub = await own(customerId, subscriptionId);
      const timing = await changeTiming(catalog, sub, planKey);
      const changed =
        timing === 'immediate'
          ? await subscriptions.upgrade(sub.id, planKey)
          : await subscriptions.downgrade(sub.id, planKey);
      return { subscription: await view(changed), timing };
    },
    async cancel(customerId, subscriptionId) {
      const sub = await own(customerId, subscriptionId);
      return view(await subscriptions.cancel(sub.id, { timing: 'period_end' }));
    },
    async resume(customerId, subscriptionId) {
      const sub = await own(customerId, subscriptionId);
      return view(await subscriptions.resume(sub.id));
    },
    async balances(customerId) {
      const result = await deps.balances(customerId).catch((error: unknown) => {
        if (error instanceof ProblemError && error.status === 404) return null;
        throw error;
      });
      if (!result) return [];
      return result.balances
        .filter((b) => b.type === 'metered')
        .map((b) => ({
          featureKey: b.featureKey,
          featureName: b.featureName,
          meterSlug: null,
          limit: b.limit,
          usage: b.usage ?? 0,
          soft: b.softLimit,
          periodStart: b.periodStart ?? '',
          resetAt: b.resetAt ?? '',
        }));
    },
  };
}

/** Upgrades (a higher base price) apply now, prorated; downgrades and equal prices at period end. */
export async function changeTiming(
  catalog: CatalogService,
  sub: Subscription,
  planKey: string,
): Promise<'immediate' | 'period_end'> {
  const [current, target] = await Promise.all([
    catalog.getPlanVersionById(sub.planVersionId),
    catalog.getLatestPlanVersion(planKey),
  ]);
  if (!target) throw problems.notFound(`No plan "${planKey}".`);
  if (!current) return 'immediate';
  return basePrice(target.definition).gt(basePrice(current.definition)) ? 'immediate' : 'period_end';
}
