import { gcra } from './gcra.ts';
import type { CounterStore, QuotaResult, QuotaSpec, RateLimitResult, RateLimitSpec } from './types.ts';

interface QuotaCounter {
  used: number;
  resetAt: number;
}

/**
 * In-process counters (embedded mode, one gateway process). Everything is synchronous once a
 * quota counter has been seeded, so a hard quota check-and-add is atomic: the event loop runs one
 * `consume` at a time. The first sight of a quota counter awaits its seed; concurrent callers wait
 * for that same seed and then take their turn, so the limit holds from the first request on.
 */
export class MemoryCounterStore implements CounterStore {
  readonly #tats = new Map<string, number>();
  readonly #quotas = new Map<string, QuotaCounter>();
  readonly #seeding = new Map<string, Promise<QuotaCounter>>();
  readonly #now: () => number;

  constructor(options: { now?: () => number } = {}) {
    this.#now = options.now ?? Date.now;
  }

  rateLimit(key: string, spec: RateLimitSpec, nowMs: number): RateLimitResult {
    const decision = gcra(this.#tats.get(key), nowMs, spec);
    if (decision.result.allowed) this.#tats.set(key, decision.tat);
    return decision.result;
  }

  consume(key: string, amount: number, spec: QuotaSpec): QuotaResult | Promise<QuotaResult> {
    const counter = this.#counter(key);
    if (counter !== undefined) return this.#consume(counter, amount, spec);
    return this.#seed(key, spec).then((c) => this.#consume(c, amount, spec));
  }

  add(key: string, amount: number, spec: QuotaSpec): QuotaResult | Promise<QuotaResult> {
    const counter = this.#counter(key);
    if (counter !== undefined) return this.#add(counter, amount, spec);
    return this.#seed(key, spec).then((c) => this.#add(c, amount, spec));
  }

  reset(key: string): void {
    this.#tats.delete(key);
    this.#quotas.delete(key);
    this.#seeding.delete(key);
  }

  /**
   * Forgets counters whose period ended and rate limits whose budget is full again; run every
   * minute by the scheduler (compose/jobs.ts).
   */
  sweep(): void {
    const now = this.#now();
    for (const [key, tat] of this.#tats) if (tat <= now) this.#tats.delete(key);
    for (const [key, counter] of this.#quotas) if (counter.resetAt <= now) this.#quotas.delete(key);
  }

  async close(): Promise<void> {
    this.#tats.clear();
    this.#quotas.clear();
  }

  #counter(key: string): QuotaCounter | undefined {
    const counter = this.#quotas.get(key);
    if (counter === undefined) return undefined;
    if (counter.resetAt <= this.#now()) {
      this.#quotas.delete(key);
      return undefined;
    }
    return counter;
  }

  #seed(key: string, spec: QuotaSpec): Promise<QuotaCounter> {
    let seeding = this.#seeding.get(key);
    if (seeding === undefined) {
      seeding = spec
        .seed()
        .then((used) => {
          // Another path may have created the counter meanwhile (reset + reseed): keep the first.
          const existing = this.#quotas.get(key);
          if (existing !== undefined) return existing;
          const counter: QuotaCounter = { used: Number.isFinite(used) ? used : 0, resetAt: spec.resetAt };
          this.#quotas.set(key, counter);
          return counter;
        })
        .finally(() => {
          this.#seeding.delete(key);
        });
      this.#seeding.set(key, seeding);
    }
    return seeding;
  }

  #consume(counter: QuotaCounter, amount: number, spec: QuotaSpec): QuotaResult {
    const allowed = !spec.hard || counter.used + amount <= spec.limit;
    if (allowed) counter.used += amount;
    return result(counter, spec, allowed);
  }

  #add(counter: QuotaCounter, amount: number, spec: QuotaSpec): QuotaResult {
    counter.used += amount;
    return result(counter, spec, true);
  }
}

function result(counter: QuotaCounter, spec: QuotaSpec, allowed: boolean): QuotaResult {
  return {
    allowed,
    limit: spec.limit,
    used: counter.used,
    remaining: Math.max(0, spec.limit - counter.used),
    resetAt: counter.resetAt,
  };
}
