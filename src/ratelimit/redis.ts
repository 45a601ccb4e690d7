import { Redis } from 'ioredis';
import { ProblemError } from '../http/problem.ts';
import type { Logger } from '../util/log.ts';
import { MemoryCounterStore } from './memory.ts';
import { MERGE_LUA, OutageCounts } from './outage-counts.ts';
import { GCRA_LUA, QUOTA_LUA, RAISE_LUA } from './redis-scripts.ts';
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
 *   node, not across nodes; quotas are seeded as above). When Redis is back, each node adds what
 *   it counted locally during the outage to the Redis counter, once (`outage-counts.ts`), so the
 *   count after an outage is the sum over the nodes, not the largest of them.
 * - 'closed': rate-limit and quota checks fail with 503 `counters-unavailable` (Retry-After: 1).
 *   `add` (usage known after the response) never fails a response: metering has the event.
 */
export { GCRA_LUA, QUOTA_LUA, RAISE_LUA };

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
  tollgateMerge(key: string, marker: string, delta: number, base: number, resetAt: number): Promise<string>;
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
  /** What this node counted locally while Redis was unreachable, until it is added to Redis. */
  readonly #outages = new OutageCounts();
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
    this.redis.defineCommand('tollgateMerge', { numberOfKeys: 2, lua: MERGE_LUA });
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

  /** The fallback counts in memory during an outage: it forgets what no longer matters the same way. */
  sweep(): void {
    this.#fallback.sweep?.();
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
      this.#outages.counted(key, mode === 'add' || result.allowed ? amount : 0, result.used, spec.resetAt);
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
   * Redis answers again: what this node counted locally during the outage is added to Redis; after
   * a reconnect every other counter this node knows is raised to at least its last known count.
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
      const merged = await this.#mergeOutages();
      const now = Date.now();
      for (let i = 0; i < keys.length; i += 500) {
        await Promise.all(
          keys.slice(i, i + 500).map(async (key) => {
            const known = this.#lastKnown.get(key);
            // A merged counter was added to Redis above: raising it to the local count would
            // count the outage twice.
            if (known !== undefined && known.resetAt > now && !merged.has(key)) {
              await this.redis.tollgateRaise(
                `${this.#prefix}q:${key}`,
                known.used,
                Math.floor(known.resetAt),
              );
            } else if (known !== undefined && known.resetAt <= now) {
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
    // Calls that fell back while this recovery ran counted a new outage: merge it too.
    if (!this.#degraded && this.#outages.size > 0) void this.#recovered(false);
  }

  /** Adds each outage's local counts to Redis, once per counter; returns the counters merged. */
  async #mergeOutages(): Promise<Set<string>> {
    const merged = new Set<string>();
    for (const merge of this.#outages.take()) {
      const now = Date.now();
      const counts = [...merge.counts];
      for (let i = 0; i < counts.length; i += 500) {
        await Promise.all(
          counts.slice(i, i + 500).map(async ([key, count]) => {
            merged.add(key);
            if (count.resetAt <= now) return;
            const used = await this.redis.tollgateMerge(
              `${this.#prefix}q:${key}`,
              `${this.#prefix}qm:${merge.id}:${key}`,
              count.delta,
              count.base,
              Math.floor(count.resetAt),
            );
            this.#remember(key, Number(used), count.resetAt);
          }),
        );
      }
      this.#outages.merged(merge);
    }
    return merged;
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
