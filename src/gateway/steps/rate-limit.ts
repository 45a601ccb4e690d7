import { ProblemError } from '../../http/problem.ts';
import type { RateLimitResult, RateLimitSpec } from '../../ratelimit/types.ts';
import { parseWindow } from '../../util/duration.ts';
import { isPromise } from '../compiled-config.ts';
import type { RequestState, StepResult } from './types.ts';

const windowCache = new Map<string, number>();
function windowMs(window: string): number {
  let ms = windowCache.get(window);
  if (ms === undefined) {
    ms = parseWindow(window) ?? 0;
    if (ms <= 0) throw new Error(`rate limit function returned an invalid window "${window}"`);
    windowCache.set(window, ms);
  }
  return ms;
}

/**
 * Step 5: the rate limit (GCRA): the config's rate-limit function when it decides, else the
 * plan's limit (or the default) per key or per customer, per client address on public routes.
 */
export function limitRate(request: RequestState): StepResult | Promise<StepResult> {
  const state = request.state;
  let spec: RateLimitSpec | null = null;
  let counterKey = '';
  if (state.rateLimitFn !== null) {
    const decision = state.rateLimitFn(request.context());
    if (decision !== undefined) {
      spec = { limit: decision.limit, windowMs: windowMs(decision.window), burst: decision.burst };
      counterKey = `rl:fn:${decision.key}`;
    }
  }
  if (spec === null) {
    spec = request.view?.rateLimit ?? state.defaultRateLimit;
    const key = request.key;
    counterKey =
      key === null
        ? `rl:ip:${request.req.socket.remoteAddress ?? ''}`
        : state.rateLimitByKey
          ? `rl:k:${key.id}`
          : `rl:c:${key.customerId}`;
  }
  if (spec === null) return undefined;
  request.rateSpec = spec;
  const result = request.gw.counters.rateLimit(counterKey, spec, Date.now());
  if (isPromise(result)) return result.then((r) => rateOutcome(request, r));
  return rateOutcome(request, result);
}

function rateOutcome(request: RequestState, result: RateLimitResult): StepResult {
  request.rate = result;
  if (result.allowed) return undefined;
  const retryAfter = Math.max(1, Math.ceil(result.retryAfterMs / 1000));
  const spec = request.rateSpec;
  return new ProblemError({
    status: 429,
    type: 'rate-limited',
    title: 'Too many requests',
    detail: `Rate limit of ${spec?.limit} requests per ${Math.ceil((spec?.windowMs ?? 0) / 1000)} s exceeded; retry in ${retryAfter} s.`,
    extensions: { limit: spec?.limit, retryAfter, upgradeUrl: request.view?.upgradeUrl },
    headers: { 'retry-after': String(retryAfter) },
  });
}
