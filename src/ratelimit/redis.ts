import { Redis } from 'ioredis';
import { ProblemError } from '../http/problem.ts';
import type { Logger } from '../util/log.ts';
import { MemoryCounterStore } from './memory.ts';
import type { CounterStore, QuotaResult, QuotaSpec, RateLimitResult, RateLimitSpec } from './types.ts';

/**
 * Scale-out CounterStore: rate limits and quota balances in Redis, shared by every gateway node.
 *
 * Each check is ONE Lua script, run atomically by Redis in one round trip (EVALSHA; ioredis
 * falls back to EVAL when the server does not know the script yet, e.g. after a restart).
 * - Rate limit: the same GCRA as `gcra.ts` (same arithmetic on the same doubles, so the same
 *   answers; the tests run both against one table). State: the TAT, one string per key.
 * - Quota: consume adds only when `used + amount ≤ limit` (hard) or always (soft); add always
 *   adds. A counter never seen before answers "seed me"; the node reads the meter (`spec.seed`)
 *   and runs the script again with that value, which creates the counter only if it is still
 *   missing (SET NX semantics inside the script), so concurrent first requests agree.
 *   The counter expires at the end of its usage period (PEXPIREAT resetAt).
 * - Seeds never go below what this node last knew: the meter lags the usage log by what the
 *   metering worker has not written yet (all of it while the worker is down), so after a Redis
 *   restart a counter seeded from the meter alone let a customer at 90/100 make 100 more calls.
 *   Each node remembers the last count Redis answered for every quota counter it touched
 *   (`#lastKnown`, bounded); a seed is max(meter, last known), and when Redis is back (`ready`)
 *   every node raises the counters it knows to at least its last known count before it reports
 *   healthy. Across nodes the highest last known count is the count Redis held.
 *
 * When Redis is unreachable (`onRedisError`):
 * - 'open' (default): each node falls back to its own in-memory counters (limits then hold per
 *   node, not across nodes; quotas are seeded as above). Quota counters counted locally during
 *   the outage are raised in Redis to at least the local count when it is back.
 * - 'closed': rate-limit and quota checks fail with 503 `counters-unavailable` (Retry-After: 1).
 *   `add` (usage known after the response) never fails a response: metering has the event.
 */
export type RedisErrorMode = 'open' | 'closed';

export interface RedisCounterStoreOptions {
  /** redis://[user:pass@]host:port[/db] */
  url: string;
  /** Prepended to every key; tests use their own. Default `tollgate:`. */
  prefix?: string;
  onRedisError?: RedisErrorMode;
  /** Longest wait for a reply before the check counts as failed. Default 500 ms. */
  commandTimeoutMs?: number;
  log?: Logger;
  /** Local counters used while Redis is unreachable in 'open' mode. */
  fallback?: CounterStore;
}

/** Returned by a failed check in 'closed' mode; the gateway answers it as problem+json. */
export const countersUnavailable = () =>
  new ProblemError({
    status: 503,
    type: 'counters-unavailable',
    title: 'Service unavailable',
    detail: 'Rate limits and quotas cannot be checked right now. Retry shortly.',
    headers: { 'retry-after': '1' },
  });

// KEYS[1] tat key; ARGV: nowMs, windowMs, limit, burst ('' = limit), cost.
// Mirrors gcra.ts operation by operation (Lua numbers are IEEE doubles, like JS numbers).
export const GCRA_LUA = `
local now = tonumber(ARGV[1])
local limit = tonumber(ARGV[3])
local interval = tonumber(ARGV[2]) / limit
local capacity = limit
if ARGV[4] ~= '' then capacity = tonumber(ARGV[4]) end
if capacity < 1 then capacity = 1 end
local cost = tonumber(ARGV[5])
local tolerance = capacity * interval
local stored = redis.call('GET', KEYS[1])
local tat = now
if stored then
  local s = tonumber(stored)
  if s > now then tat = s end
end
local newTat = tat + cost * interval
local allowAt = newTat - tolerance
if allowAt > now then
  return {0, capacity, 0, math.ceil(tat - now), math.ceil(allowAt - now)}
end
redis.call('SET', KEYS[1], string.format('%.17g', newTat), 'PX', math.ceil(newTat - now) + 1000)
return {1, capacity, math.floor((now - allowAt) / interval + 1e-9), math.ceil(newTat - now), 0}
`;

// KEYS[1] counter key; ARGV: mode ('consume'|'add'), amount, limit, hard ('1'|'0'), resetAt, seed ('' = none).
// Returns {allowed, used} or {-1} when the counter does not exist and no seed was given.
export const QUOTA_LUA = `
local used = redis.call('GET', KEYS[1])
if not used then
  if ARGV[6] == '' then return {-1} end
  redis.call('SET', KEYS[1], ARGV[6])
  redis.call('PEXPIREAT', KEYS[1], ARGV[5])
  used = ARGV[6]
end
local amount = tonumber(ARGV[2])
if ARGV[1] == 'consume' and ARGV[4] == '1' and tonumber(used) + amount > tonumber(ARGV[3]) then
  return {0, used}
end
if amount ~= 0 then used = redis.call('INCRBYFLOAT', KEYS[1], ARGV[2]) end
return {1, used}
`;

// KEYS[1] counter key; ARGV: floor, resetAt. Raises the counter to at least floor (creates it if missing).
export const RAISE_LUA = `
local used = redis.call('GET', KEYS[1])
if (not used) or tonumber(used) < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], ARGV[1])
  redis.call('PEXPIREAT', KEYS[1], ARGV[2])
end
return 1
`;

/** How many quota counters a node remembers the last count of (oldest forgotten first). */
const LAST_KNOWN_MAX = 100_000;

interface LastKnown {
  used: number;
  resetAt: number;
}

type GcraReply = [number, number, number, number, number];
type QuotaReply = [number, string?];

interface ScriptedRedis extends Redis {
  tollgateGcra(key: string, ...args: (string | number)[]): Promise<GcraReply>;
  tollgateQuota(key: string, ...args: (string | number)[]): Promise<QuotaReply>;
  tollgateRaise(key: string, floor: number, resetAt: number): Promise<number>;
}

export class RedisCounterStore implements CounterStore {
  readonly redis: ScriptedRedis;
  readonly mode: RedisErrorMode;
  readonly #prefix: string;
  readonly #log: Logger | undefined;
  readonly #fallback: CounterStore;
  readonly #ownsFallback: boolean;
  readonly #seeding = new Map<string, Promise<number>>();
  /** Quota counters changed locally while Redis was unreachable; dropped from Redis on recovery. */
  readonly #dirty = new Set<string>();
  /** The last count Redis (or the fallback) answered per quota counter: the floor of a seed. */
  readonly #lastKnown = new Map<string, LastKnown>();
  #degraded = false;
  #recovering = false;
  /** Raising counters to their last known counts after a reconnect: not healthy yet. */
  #restoring = false;
  /** A reconnect came while a recovery ran: restore every known counter on the next one. */
  #restoreAll = false;
  #connectedOnce = false;

  constructor(options: RedisCounterStoreOptions) {
    this.mode = options.onRedisError ?? 'open';
    this.#prefix = options.prefix ?? 'tollgate:';
    this.#log = options.log;
    this.#ownsFallback = options.fallback === undefined;
    this.#fallback = options.fallback ?? new MemoryCounterStore();
    this.redis = new Redis(options.url, {
      // Fail fast instead of queueing: a request must not wait for a reconnect.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: options.commandTimeoutMs ?? 500,
      connectTimeout: 2_000,
      retryStrategy: (times) => Math.min(50 * times, 1_000),
      // Concurrent checks from many requests go out in one write (one syscall, many scripts).
      enableAutoPipelining: true,
      lazyConnect: false,
    }) as ScriptedRedis;
    this.redis.defineCommand('tollgateGcra', { numberOfKeys: 1, lua: GCRA_LUA });
    this.redis.defineCommand('tollgateQuota', { numberOfKeys: 1, lua: QUOTA_LUA });
    this.redis.defineCommand('tollgateRaise', { numberOfKeys: 1, lua: RAISE_LUA });
    this.redis.on('error', () => {
      // Reported through #failed when a check is affected; ioredis reconnects on its own.
    });
    this.redis.on('ready', () => {
      // Every reconnect may be to a Redis that restarted empty: restore what this node knew.
      const reconnect = this.#connectedOnce;
      this.#connectedOnce = true;
      if (reconnect) this.#restoring = true;
      void this.#recovered(reconnect);
    });
  }

  /** True while Redis answers (for /readyz). */
  get healthy(): boolean {
    return this.redis.status === 'ready' && !this.#degraded && !this.#restoring;
  }

  /** Resolves when connected (start-up waits for it, so a bad URL fails loudly). */
  async ready(timeoutMs = 5_000): Promise<void> {
    if (this.redis.status === 'ready') return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`cannot connect to Redis (status: ${this.redis.status})`));
      }, timeoutMs);
      const onReady = () => {
        cleanup();
        resolve();
      };
      const cleanup = () => {
        clearTimeout(timer);
        this.redis.off('ready', onReady);
      };
      this.redis.on('ready', onReady);
    });
  }

  async rateLimit(key: string, spec: RateLimitSpec, nowMs: number): Promise<RateLimitResult> {
    try {
      const [allowed, limit, remaining, resetMs, retryAfterMs] = await this.redis.tollgateGcra(
        `${this.#prefix}rl:${key}`,
        nowMs,
        spec.windowMs,
        spec.limit,
        spec.burst ?? '',
        1,
      );
      if (this.#degraded) void this.#recovered(false);
      return { allowed: allowed === 1, limit, remaining, resetMs, retryAfterMs };
    } catch (error) {
      if (!isRedisError(error)) throw error;
      this.#failed(error);
      if (this.mode === 'closed') throw countersUnavailable();
      return this.#fallback.rateLimit(key, spec, nowMs);
    }
  }

  consume(key: string, amount: number, spec: QuotaSpec): Promise<QuotaResult> {
    return this.#quota('consume', key, amount, spec);
  }

  add(key: string, amount: number, spec: QuotaSpec): Promise<QuotaResult> {
    return this.#quota('add', key, amount, spec);
  }

  async reset(key: string): Promise<void> {
    this.#lastKnown.delete(key);
    await this.#fallback.reset(key);
    try {
      await this.redis.del(`${this.#prefix}rl:${key}`, `${this.#prefix}q:${key}`);
    } catch (error) {
      this.#dirty.add(key);
      this.#failed(error);
    }
  }

  async close(): Promise<void> {
    this.redis.disconnect();
    if (this.#ownsFallback) await this.#fallback.close();
  }

  async #quota(mode: 'consume' | 'add', key: string, amount: number, spec: QuotaSpec): Promise<QuotaResult> {
    const redisKey = `${this.#prefix}q:${key}`;
    const args = (seed: number | '') =>
      [mode, amount, spec.limit, spec.hard ? '1' : '0', Math.floor(spec.resetAt), seed] as const;
    try {
      let reply = await this.redis.tollgateQuota(redisKey, ...args(''));
      if (reply[0] === -1) {
        const seed = await this.#seed(key, spec);
        reply = await this.redis.tollgateQuota(redisKey, ...args(seed));
      }
      if (this.#degraded) void this.#recovered(false);
      const used = Number(reply[1]);
      this.#remember(key, used, spec.resetAt);
      return {
        allowed: reply[0] === 1,
        limit: spec.limit,
        used,
        remaining: Math.max(0, spec.limit - used),
        resetAt: spec.resetAt,
      };
    } catch (error) {
      if (!isRedisError(error)) throw error;
      this.#failed(error);
      if (this.mode === 'closed' && mode === 'consume') throw countersUnavailable();
      this.#dirty.add(key);
      const local = { ...spec, seed: () => this.#seed(key, spec) };
      const result = await (mode === 'consume'
        ? this.#fallback.consume(key, amount, local)
        : this.#fallback.add(key, amount, local));
      this.#remember(key, result.used, spec.resetAt);
      return result;
    }
  }

  #remember(key: string, used: number, resetAt: number): void {
    const known = this.#lastKnown.get(key);
    if (known !== undefined) {
      known.used = used;
      known.resetAt = resetAt;
      return;
    }
    if (this.#lastKnown.size >= LAST_KNOWN_MAX) {
      const oldest = this.#lastKnown.keys().next().value;
      if (oldest !== undefined) this.#lastKnown.delete(oldest);
    }
    this.#lastKnown.set(key, { used, resetAt });
  }

  /** What this node last knew of a counter in the period ending at `resetAt` (0 if nothing). */
  #floor(key: string, resetAt: number): number {
    const known = this.#lastKnown.get(key);
    return known !== undefined && known.resetAt === resetAt && resetAt > Date.now() ? known.used : 0;
  }

  /**
   * One meter read per counter and node, however many requests see the counter first; never
   * below what this node last knew (the meter lacks what the worker has not written yet).
   */
  #seed(key: string, spec: QuotaSpec): Promise<number> {
    let seeding = this.#seeding.get(key);
    if (seeding === undefined) {
      seeding = spec
        .seed()
        .then((used) => Math.max(Number.isFinite(used) ? used : 0, this.#floor(key, spec.resetAt)))
        .finally(() => this.#seeding.delete(key));
      this.#seeding.set(key, seeding);
    }
    return seeding;
  }

  #failed(error: unknown): void {
    if (!this.#degraded) {
      this.#degraded = true;
      this.#log?.error(
        { err: error, mode: this.mode },
        this.mode === 'open'
          ? 'redis unreachable: rate limits and quotas fall back to this node (fail open)'
          : 'redis unreachable: refusing rate-limited requests with 503 (fail closed)',
      );
    }
  }

  /**
   * Redis answers again: counters counted locally during the outage, and after a reconnect every
   * counter this node knows, are raised to at least this node's last known count.
   */
  async #recovered(reconnect: boolean): Promise<void> {
    if (this.#recovering) {
      if (reconnect) this.#restoreAll = true;
      return;
    }
    this.#recovering = true;
    const all = reconnect || this.#restoreAll;
    this.#restoreAll = false;
    const dirty = [...this.#dirty];
    this.#dirty.clear();
    const keys = all ? [...new Set([...this.#lastKnown.keys(), ...dirty])] : dirty;
    try {
      const now = Date.now();
      for (let i = 0; i < keys.length; i += 500) {
        await Promise.all(
          keys.slice(i, i + 500).map(async (key) => {
            const known = this.#lastKnown.get(key);
            if (known !== undefined && known.resetAt > now) {
              await this.redis.tollgateRaise(
                `${this.#prefix}q:${key}`,
                known.used,
                Math.floor(known.resetAt),
              );
            } else if (known !== undefined) {
              this.#lastKnown.delete(key);
            }
            await this.#fallback.reset(key);
          }),
        );
      }
      if (this.#degraded) this.#log?.info({ restored: keys.length }, 'redis reachable again');
      this.#degraded = false;
      this.#restoring = false;
    } catch (error) {
      for (const k of dirty) this.#dirty.add(k);
      if (all) this.#restoreAll = true;
      this.#failed(error);
    } finally {
      this.#recovering = false;
    }
  }
}

/** Connection-level failures (as opposed to a seed function that threw). */
function isRedisError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const name = error.name;
  return (
    name === 'MaxRetriesPerRequestError' ||
    name === 'ReplyError' ||
    name === 'AbortError' ||
    /Stream isn't writeable|Connection is closed|Command timed out|ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|LOADING|NOSCRIPT/i.test(
      error.message,
    )
  );
}
