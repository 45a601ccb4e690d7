import { Redis } from 'ioredis';
import type { Logger } from '../util/log.ts';
import {
  DEFAULT_LOGIN_LIMITS,
  type LoginAttempts,
  type LoginLimits,
  LoginThrottle,
} from './login-throttle.ts';
import { sha256 } from './tokens.ts';

/**
 * Login throttling shared by every console node through scale-out Redis. In process, each node
 * counted on its own, so guesses spread over N nodes met N times each limit. The same three
 * limits (`login-throttle.ts`) are checked and counted in ONE script, before the password hash,
 * so parallel guesses on any node cannot race past them. Each count is a fixed window: INCR, and
 * PEXPIRE when the count starts. Accounts appear in keys only as a hash of the address.
 *
 * While Redis does not answer, the node counts in process (per node again) and logs it once.
 */

// KEYS: pair, account, address counters; ARGV: their limits, then windowMs.
// Returns 0 (counted) or the milliseconds until the fullest window ends (nothing counted).
const ATTEMPT_LUA = `
local wait = 0
for i = 1, 3 do
  local count = tonumber(redis.call('GET', KEYS[i]) or '0')
  if count >= tonumber(ARGV[i]) then
    local ttl = redis.call('PTTL', KEYS[i])
    if ttl < 0 then ttl = tonumber(ARGV[4]) end
    if ttl > wait then wait = ttl end
  end
end
if wait > 0 then return wait end
for i = 1, 3 do
  if redis.call('INCR', KEYS[i]) == 1 then redis.call('PEXPIRE', KEYS[i], ARGV[4]) end
end
return 0
`;

// KEYS: pair, account, address. A right password clears the account's counts and takes this
// attempt off the address's.
const SUCCEEDED_LUA = `
redis.call('DEL', KEYS[1], KEYS[2])
local count = tonumber(redis.call('GET', KEYS[3]) or '0')
if count > 0 then redis.call('DECR', KEYS[3]) end
return 1
`;

interface ScriptedRedis extends Redis {
  tollgateLoginAttempt(pair: string, account: string, address: string, ...limits: number[]): Promise<number>;
  tollgateLoginSucceeded(pair: string, account: string, address: string): Promise<number>;
}

export interface RedisLoginThrottleOptions {
  url: string;
  /** `scaleOut.redisKeyPrefix`. */
  prefix: string;
  limits?: Partial<LoginLimits>;
  log?: Logger;
}

export class RedisLoginThrottle implements LoginAttempts {
  readonly redis: ScriptedRedis;
  readonly #prefix: string;
  readonly #limits: LoginLimits;
  readonly #local: LoginThrottle;
  readonly #log: Logger | undefined;
  #degraded = false;

  constructor(options: RedisLoginThrottleOptions) {
    this.#prefix = `${options.prefix}login:`;
    this.#limits = { ...DEFAULT_LOGIN_LIMITS, ...options.limits };
    this.#local = new LoginThrottle(this.#limits);
    this.#log = options.log;
    this.redis = new Redis(options.url, {
      // A login must not wait for a reconnect: it is counted in process meanwhile.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: 1_000,
      retryStrategy: (times) => Math.min(50 * times, 1_000),
    }) as ScriptedRedis;
    this.redis.defineCommand('tollgateLoginAttempt', { numberOfKeys: 3, lua: ATTEMPT_LUA });
    this.redis.defineCommand('tollgateLoginSucceeded', { numberOfKeys: 3, lua: SUCCEEDED_LUA });
    this.redis.on('error', () => {
      // Reported by #fallBack when a login is affected; ioredis reconnects on its own.
    });
  }

  #keys(account: string, address: string): [string, string, string] {
    const who = sha256(account.toLowerCase());
    return [
      `${this.#prefix}pair:${who}|${address}`,
      `${this.#prefix}account:${who}`,
      `${this.#prefix}address:${address}`,
    ];
  }

  async attempt(account: string, address: string, now: number): Promise<number> {
    const { perAccountAndAddress, perAccount, perAddress, windowMs } = this.#limits;
    try {
      const waitMs = await this.redis.tollgateLoginAttempt(
        ...this.#keys(account, address),
        perAccountAndAddress,
        perAccount,
        perAddress,
        windowMs,
      );
      this.#degraded = false;
      return waitMs > 0 ? Math.max(1, Math.ceil(waitMs / 1000)) : 0;
    } catch (error) {
      this.#fallBack(error);
      return this.#local.attempt(account, address, now);
    }
  }

  async succeeded(account: string, address: string): Promise<void> {
    this.#local.succeeded(account, address);
    try {
      await this.redis.tollgateLoginSucceeded(...this.#keys(account, address));
    } catch (error) {
      this.#fallBack(error);
    }
  }

  #fallBack(error: unknown): void {
    if (this.#degraded) return;
    this.#degraded = true;
    this.#log?.error(
      { err: error },
      'redis unreachable: login attempts are counted on this console node only',
    );
  }

  close(): void {
    this.redis.disconnect();
  }
}
