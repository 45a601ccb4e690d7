import type { CustomerInfo, EntitlementInfo, SubscriptionInfo } from '../config/types.ts';
import type { ProblemError } from '../http/problem.ts';
import type { RateLimitSpec } from '../ratelimit/types.ts';

/**
 * What the gateway needs to know about a caller, resolved from its key and cached in memory
 * until the change feed says the customer, subscription or catalog changed. This is the
 * gateway's only view of entitlements: it never reads plans or subscriptions directly.
 */
export interface QuotaView {
  featureKey: string;
  meterSlug: string;
  /** Counter identity, unique per subscription, feature and usage period. */
  counterKey: string;
  limit: number;
  soft: boolean;
  periodStart: Date;
  /** Exclusive end of the usage period: when the quota resets. */
  resetAt: Date;
  /**
   * Usage already recorded in the period (from the meter), for a counter seen for the first time
   * (a restarted node, a new counter backend). Resolves to 0 when no meter reader is wired.
   */
  seed?: () => Promise<number>;
}

export interface AccessView {
  customer: CustomerInfo;
  subscription: SubscriptionInfo | null;
  entitlements: Record<string, EntitlementInfo>;
  /** The plan's steady rate limit (after contract overrides), if any. */
  rateLimit: RateLimitSpec | null;
  /** Metered entitlements with a limit, by feature key. */
  quotas: Record<string, QuotaView>;
  /**
   * Set when the caller may not use the API at all: canceled (403), suspended for non-payment
   * or credits at zero (402). The gateway answers with this problem.
   */
  blocked: ProblemError | null;
  /** Where the portal lets this customer upgrade (for 429 and 403 problems); absent on the top plan. */
  upgradeUrl?: string;
}

export interface AccessResolver {
  /** The view for a key's customer/subscription; cached, so the common case is a Map hit. */
  resolve(customerId: string, subscriptionId: string | null): AccessView | Promise<AccessView>;
}
