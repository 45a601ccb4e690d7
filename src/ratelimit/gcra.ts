import type { RateLimitResult, RateLimitSpec } from './types.ts';

/**
 * GCRA (generic cell rate algorithm), as a pure function of the stored theoretical arrival time.
 *
 * - emission interval T = windowMs / limit: one request "costs" T of budget;
 * - capacity = burst (default: limit) requests may arrive at once; the tolerance is
 *   (capacity − 1)·T beyond the steady rate;
 * - state is one number per key: the TAT (when the budget would be full again, minus nothing).
 *
 * A request at `now` is allowed when `max(tat, now) + cost·T − capacity·T ≤ now`.
 */
export interface GcraDecision {
  result: RateLimitResult;
  /** The new TAT to store (unchanged when refused). */
  tat: number;
}

export function gcra(
  storedTat: number | undefined,
  nowMs: number,
  spec: RateLimitSpec,
  cost = 1,
): GcraDecision {
  const interval = spec.windowMs / spec.limit;
  const capacity = Math.max(1, spec.burst ?? spec.limit);
  const tolerance = capacity * interval;
  const tat = storedTat !== undefined && storedTat > nowMs ? storedTat : nowMs;
  const newTat = tat + cost * interval;
  const allowAt = newTat - tolerance;
  if (allowAt > nowMs) {
    return {
      tat,
      result: {
        allowed: false,
        limit: capacity,
        remaining: 0,
        resetMs: Math.ceil(tat - nowMs),
        retryAfterMs: Math.ceil(allowAt - nowMs),
      },
    };
  }
  return {
    tat: newTat,
    result: {
      allowed: true,
      limit: capacity,
      remaining: Math.floor((nowMs - allowAt) / interval + 1e-9),
      resetMs: Math.ceil(newTat - nowMs),
      retryAfterMs: 0,
    },
  };
}
