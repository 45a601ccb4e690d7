/**
 * Login throttling, counted *before* the password hash so that parallel guesses cannot race
 * past it: `attempt` checks and records in one synchronous step (no await between), and only
 * attempts under every limit go on to the slow hash. Three windows, each sliding over
 * `windowMs` (15 minutes):
 * - per account and address (5): one client guessing one account;
 * - per account (10), over all addresses: a botnet guessing one account;
 * - per address (30), over all accounts: one client spraying a password over many accounts.
 * A correct password clears the account's counters. This class counts in process (embedded or
 * single node); with scale-out Redis the console nodes share the counts
 * (`login-throttle-redis.ts`), so spreading guesses over nodes gains nothing.
 */

/** Counts login attempts: the in-process `LoginThrottle` or the shared `RedisLoginThrottle`. */
export interface LoginAttempts {
  /** Counts one attempt and answers 0, or answers the seconds to wait (counting nothing). */
  attempt(account: string, address: string, now: number): number | Promise<number>;
  /** The password was right. */
  succeeded(account: string, address: string): void | Promise<void>;
}
export interface LoginLimits {
  perAccountAndAddress: number;
  perAccount: number;
  perAddress: number;
  windowMs: number;
}

export const DEFAULT_LOGIN_LIMITS: LoginLimits = {
  perAccountAndAddress: 5,
  perAccount: 10,
  perAddress: 30,
  windowMs: 15 * 60_000,
};

const MAX_KEYS = 100_000;

export class LoginThrottle implements LoginAttempts {
  readonly #attempts = new Map<string, number[]>();
  readonly #limits: LoginLimits;

  constructor(limits: Partial<LoginLimits> = {}) {
    this.#limits = { ...DEFAULT_LOGIN_LIMITS, ...limits };
  }

  #recent(key: string, now: number): number[] {
    const list = (this.#attempts.get(key) ?? []).filter((t) => now - t < this.#limits.windowMs);
    if (list.length === 0) this.#attempts.delete(key);
    else this.#attempts.set(key, list);
    return list;
  }

  #keys(account: string, address: string): [string, number][] {
    const { perAccountAndAddress, perAccount, perAddress } = this.#limits;
    return [
      [`pair:${account}|${address}`, perAccountAndAddress],
      [`account:${account}`, perAccount],
      [`address:${address}`, perAddress],
    ];
  }

  /**
   * Counts one attempt and answers 0, or answers the seconds to wait (and counts nothing) when
   * any window is full.
   */
  attempt(account: string, address: string, now: number): number {
    const keys = this.#keys(account.toLowerCase(), address);
    let wait = 0;
    for (const [key, limit] of keys) {
      const list = this.#recent(key, now);
      if (list.length >= limit)
        wait = Math.max(wait, Math.ceil((list[0]! + this.#limits.windowMs - now) / 1000), 1);
    }
    if (wait > 0) return wait;
    for (const [key] of keys) {
      const list = this.#attempts.get(key) ?? [];
      list.push(now);
      this.#attempts.set(key, list);
    }
    while (this.#attempts.size > MAX_KEYS) this.#attempts.delete(this.#attempts.keys().next().value!);
    return 0;
  }

  /**
   * The password was right: the account's counters start again, and this attempt no longer
   * counts against the address (many users behind one NAT log in all day).
   */
  succeeded(account: string, address: string): void {
    const [pair, whole, byAddress] = this.#keys(account.toLowerCase(), address);
    this.#attempts.delete(pair![0]);
    this.#attempts.delete(whole![0]);
    this.#attempts.get(byAddress![0])?.pop();
  }
}
