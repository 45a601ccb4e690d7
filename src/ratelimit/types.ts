/**
 * Counters used in the request path. The memory backend answers synchronously; the Redis
 * backend (scale-out) answers with one atomic Lua script per check.
 */
export interface RateLimitSpec {
  /** Requests allowed per window at the steady rate. */
  limit: number;
  windowMs: number;
  /** Requests allowed at once above the steady rate (GCRA tolerance). Default: limit. */
  burst?: number;
}

export interface RateLimitResult {
  allowed: boolean;
  limit: number;
  /** Requests that could be made right now. */
  remaining: number;
  /** Milliseconds until the budget is full again (for `RateLimit: …;t=`). */
  resetMs: number;
  /** Milliseconds to wait before a retry can succeed (0 when allowed). */
  retryAfterMs: number;
}

export interface QuotaSpec {
  /** Units included in the period. */
  limit: number;
  /** Hard: refuse when it would exceed the limit. Soft: always allow, count overage. */
  hard: boolean;
  /** End of the usage period (exclusive), epoch ms; the counter expires then. */
  resetAt: number;
  /** Usage already recorded for the period (from the meter), used when the counter is first seen. */
  seed: () => Promise<number>;
}

export interface QuotaResult {
  allowed: boolean;
  limit: number;
  used: number;
  remaining: number;
  resetAt: number;
}

export interface CounterStore {
  rateLimit(key: string, spec: RateLimitSpec, nowMs: number): RateLimitResult | Promise<RateLimitResult>;
  /** Adds `amount` to the period's usage if allowed (hard: only when used + amount ≤ limit). */
  consume(key: string, amount: number, spec: QuotaSpec): QuotaResult | Promise<QuotaResult>;
  /** Records usage known only after the response (AI tokens); never refuses. */
  add(key: string, amount: number, spec: QuotaSpec): QuotaResult | Promise<QuotaResult>;
  /** Forgets a counter (e.g. a plan change resets the limit). */
  reset(key: string): void | Promise<void>;
  /** Forgets counters kept in memory that no longer matter; run every minute by the scheduler. */
  sweep?(): void;
  close(): Promise<void>;
}
