/**
 * Login throttling per (email, IP): at most `limit` failed attempts in a sliding window, then
 * 429 until the oldest attempt leaves the window. In process: a portal runs on the console
 * listener, and an attacker spreading over nodes still meets the per-node bound.
 */
export class LoginThrottle {
  readonly #failures = new Map<string, number[]>();
  readonly #limit: number;
  readonly #windowMs: number;

  constructor(limit = 5, windowMs = 15 * 60_000) {
    this.#limit = limit;
    this.#windowMs = windowMs;
  }

  #recent(key: string, now: number): number[] {
    const list = (this.#failures.get(key) ?? []).filter((t) => now - t < this.#windowMs);
    if (list.length === 0) this.#failures.delete(key);
    else this.#failures.set(key, list);
    return list;
  }

  /** Seconds until another attempt is allowed, or 0 if allowed now. */
  retryAfter(key: string, now: number): number {
    const list = this.#recent(key, now);
    if (list.length < this.#limit) return 0;
    return Math.max(1, Math.ceil((list[0]! + this.#windowMs - now) / 1000));
  }

  fail(key: string, now: number): void {
    const list = this.#recent(key, now);
    list.push(now);
    this.#failures.set(key, list);
    if (this.#failures.size > 100_000) this.#failures.delete(this.#failures.keys().next().value!);
  }

  succeed(key: string): void {
    this.#failures.delete(key);
  }
}
