import { ProblemError } from '../../http/problem.ts';
import type { QuotaResult } from '../../ratelimit/types.ts';
import { isPromise } from '../compiled-config.ts';
import { quotaSpecOf } from '../quota-spec.ts';
import type { RequestState, StepResult } from './types.ts';

/**
 * Step 6: the route's feature quota, one unit per request (hard: refused at the limit; soft:
 * counted as overage). A request that is then not metered gives its unit back (`refundQuota`).
 */
export function consumeRequestQuota(request: RequestState): StepResult | Promise<StepResult> {
  const feature = request.route?.feature;
  const view = request.view;
  if (feature === undefined || view === null) return undefined;
  const quotaView = view.quotas[feature];
  if (quotaView === undefined) return undefined;
  request.quotaView = quotaView;
  const spec = quotaSpecOf(request.gw, view.customer.id, quotaView);
  request.quotaSpec = spec;
  const result = request.gw.counters.consume(quotaView.counterKey, 1, spec);
  if (isPromise(result)) return result.then((r) => quotaOutcome(request, r));
  return quotaOutcome(request, result);
}

/** Records a quota check; a refused one is answered 429 `quota-exceeded`. */
export function quotaOutcome(request: RequestState, result: QuotaResult): StepResult {
  request.quota = result;
  if (result.allowed) return undefined;
  const resetIn = Math.max(1, Math.ceil((result.resetAt - Date.now()) / 1000));
  const feature = request.quotaView?.featureKey;
  return new ProblemError({
    status: 429,
    type: 'quota-exceeded',
    title: 'Quota exhausted',
    detail: `The quota of ${result.limit} for "${feature}" is used up until ${new Date(result.resetAt).toISOString()}.`,
    extensions: {
      feature,
      limit: result.limit,
      used: result.used,
      reset: new Date(result.resetAt).toISOString(),
      upgradeUrl: request.view?.upgradeUrl,
    },
    headers: { 'retry-after': String(resetIn) },
  });
}
