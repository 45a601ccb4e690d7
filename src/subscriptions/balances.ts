import type { CatalogService } from '../catalog/index.ts';
import type { CounterStore } from '../ratelimit/types.ts';
import type { Clock } from '../util/clock.ts';
import type { CustomerService } from './customers.ts';
import type { CachingAccessResolver } from './resolver.ts';

/**
 * Entitlement balances: for each feature of the customer's plan, usage in the current usage
 * period against the limit. Usage comes from the meters (the source of truth billing uses) when
 * metering is wired, else from the gateway's quota counter.
 */
export interface EntitlementBalance {
  featureKey: string;
  featureName: string;
  type: 'metered' | 'boolean' | 'static';
  hasAccess: boolean;
  /** Units included per usage period; null = unlimited. */
  limit: number | null;
  softLimit: boolean;
  /** Usage so far in the period; null when it cannot be known (no meter). */
  usage: number | null;
  /** limit − usage, never below 0; null when unlimited or unknown. */
  remaining: number | null;
  /** Usage beyond a soft limit (billed as overage). */
  overage: number;
  periodStart: string | null;
  resetAt: string | null;
  config?: Record<string, unknown>;
}

export interface CustomerBalances {
  customerId: string;
  subscriptionId: string | null;
  planKey: string | null;
  planVersion: number | null;
  status: string | null;
  balances: EntitlementBalance[];
}

export interface BalanceDeps {
  access: CachingAccessResolver;
  catalog: CatalogService;
  customers: CustomerService;
  clock: Clock;
  counters?: CounterStore;
}

export function createBalanceReader(deps: BalanceDeps) {
  const { access, catalog, customers, clock } = deps;
  return async function entitlementBalances(customerId: string): Promise<CustomerBalances> {
    await customers.require(customerId);
    const view = await access.resolve(customerId, null);
    const features = new Map((await catalog.listFeatures()).map((f) => [f.key, f]));
    const reader = access.meterReader();
    const now = clock.now();
    const balances: EntitlementBalance[] = [];
    for (const entitlement of Object.values(view.entitlements)) {
      const feature = features.get(entitlement.featureKey);
      const quota = view.quotas[entitlement.featureKey];
      let usage: number | null = null;
      let periodStart: Date | null = quota?.periodStart ?? null;
      let resetAt: Date | null = quota?.resetAt ?? null;
      if (entitlement.type === 'metered' && !quota && view.subscription) {
        periodStart = view.subscription.currentPeriod.from;
        resetAt = view.subscription.currentPeriod.to;
      }
      if (entitlement.type === 'metered' && feature?.meter && periodStart) {
        if (reader && now.getTime() <= periodStart.getTime()) {
          usage = 0; // the period starts now (or later): nothing can have been used yet
        } else if (reader) {
          const result = await reader.query({
            meterSlug: feature.meter,
            from: periodStart,
            to: now,
            customer: customerId,
            filterGroupBy: Object.keys(feature.meterGroupByFilters).length
              ? feature.meterGroupByFilters
              : undefined,
          });
          usage = result.data.reduce((sum, row) => sum + row.value, 0);
        } else if (quota && deps.counters) {
          const counted = await deps.counters.add(quota.counterKey, 0, {
            limit: quota.limit,
            hard: !quota.soft,
            resetAt: quota.resetAt.getTime(),
            seed: async () => 0,
          });
          usage = counted.used;
        }
      }
      const limit = entitlement.limit ?? null;
      balances.push({
        featureKey: entitlement.featureKey,
        featureName: feature?.name ?? entitlement.featureKey,
        type: entitlement.type,
        hasAccess: entitlement.hasAccess,
        limit,
        softLimit: entitlement.softLimit ?? false,
        usage,
        remaining: limit !== null && usage !== null ? Math.max(0, limit - usage) : null,
        overage: limit !== null && usage !== null ? Math.max(0, usage - limit) : 0,
        periodStart: periodStart?.toISOString() ?? null,
        resetAt: resetAt?.toISOString() ?? null,
        ...(entitlement.config && { config: { ...entitlement.config } }),
      });
    }
    return {
      customerId,
      subscriptionId: view.subscription?.id ?? null,
      planKey: view.subscription?.plan.key ?? null,
      planVersion: view.subscription?.plan.version ?? null,
      status: view.subscription?.status ?? null,
      balances,
    };
  };
}

export type EntitlementBalanceReader = ReturnType<typeof createBalanceReader>;
