import type { ResolvedConfig } from '../config/index.ts';
import type { RateLimitSpec } from '../ratelimit/types.ts';
import type { AccessResolver, AccessView } from '../subscriptions/access.ts';
import { parseWindow } from '../util/duration.ts';

export function defaultRateLimitSpec(config: ResolvedConfig): RateLimitSpec | null {
  if (typeof config.rateLimit === 'function' || !config.rateLimit.default) return null;
  const d = config.rateLimit.default;
  return { limit: d.limit, windowMs: parseWindow(d.window) ?? 60_000, burst: d.burst };
}

export function upgradeUrlOf(config: ResolvedConfig): string {
  const base = config.console.publicUrl ?? `http://${config.console.host}:${config.console.port}`;
  return `${base.replace(/\/+$/, '')}/pricing`;
}

/**
 * Used until the subscriptions module provides the real resolver: every key may call every
 * route, with the config's default rate limit and no quotas.
 */
export function allowAllAccessResolver(config: ResolvedConfig): AccessResolver {
  const views = new Map<string, AccessView>();
  const rateLimit = defaultRateLimitSpec(config);
  const upgradeUrl = upgradeUrlOf(config);
  return {
    resolve(customerId) {
      let view = views.get(customerId);
      if (view === undefined) {
        view = {
          customer: { id: customerId, name: customerId, metadata: {} },
          subscription: null,
          entitlements: {},
          rateLimit,
          quotas: {},
          blocked: null,
          upgradeUrl,
        };
        if (views.size > 100_000) views.clear();
        views.set(customerId, view);
      }
      return view;
    },
  };
}
