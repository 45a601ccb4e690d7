import type { QuotaSpec } from '../ratelimit/types.ts';
import type { QuotaView } from '../subscriptions/access.ts';

/**
 * The counter settings of a quota, built here only: the request quota, the model-gating token
 * check and the token quotas added after a response all count against the same spec.
 */
export function quotaSpecOf(
  services: { readonly quotaSeed: (customerId: string, quota: QuotaView) => Promise<number> },
  customerId: string,
  quota: QuotaView,
): QuotaSpec {
  return {
    limit: quota.limit,
    hard: !quota.soft,
    resetAt: quota.resetAt.getTime(),
    seed: () => services.quotaSeed(customerId, quota),
  };
}
