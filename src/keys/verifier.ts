import type { ChangeFeed } from '../store/index.ts';
import type { Clock } from '../util/clock.ts';
import type { Logger } from '../util/log.ts';
import { hashKey, hasValidChecksum } from './format.ts';
import type { KeyVerifier, VerifiedKey } from './model.ts';
import type { KeysRepo } from './repo.ts';

interface CacheEntry {
  key: VerifiedKey | null;
  /** The key's own expiry (epoch ms), checked on every hit. */
  keyExpiresAt: number;
  /** Until when this cache entry may be trusted without asking the store again. */
  cachedUntil: number;
}

export interface CachedKeyVerifierOptions {
  repo: KeysRepo;
  changes: ChangeFeed;
  clock: Clock;
  log?: Logger;
  /** Positive entries: a safety net only, the change feed invalidates them at once. Default 60 s. */
  positiveTtlMs?: number;
  /** Unknown/revoked/expired keys. Default 5 s. */
  negativeTtlMs?: number;
  /** Bound on remembered unknown keys (random well-formed keys must not grow memory). */
  maxNegativeEntries?: number;
}

/**
 * Verification is a Map hit in the common case: checksum (rejects typos without any lookup) →
 * SHA-256 → cache. A miss reads the store once (concurrent misses for the same key share it).
 * The 'keys' change topic drops an entry at once, so a revoked key stops working within the
 * feed's delivery time (in-process: immediately; PostgreSQL NOTIFY: milliseconds).
 */
export class CachedKeyVerifier implements KeyVerifier {
  readonly #repo: KeysRepo;
  readonly #clock: Clock;
  readonly #log: Logger | undefined;
  readonly #positiveTtl: number;
  readonly #negativeTtl: number;
  readonly #maxNegative: number;
  readonly #cache = new Map<string, CacheEntry>();
  readonly #hashById = new Map<string, string>();
  readonly #loading = new Map<string, Promise<VerifiedKey | null>>();
  #negativeCount = 0;
  #generation = 0;
  #used = new Set<string>();
  readonly #unsubscribe: () => void;

  constructor(options: CachedKeyVerifierOptions) {
    this.#repo = options.repo;
    this.#clock = options.clock;
    this.#log = options.log;
    this.#positiveTtl = options.positiveTtlMs ?? 60_000;
    this.#negativeTtl = options.negativeTtlMs ?? 5_000;
    this.#maxNegative = options.maxNegativeEntries ?? 10_000;
    this.#unsubscribe = options.changes.subscribe((change) => {
      if (change.topic !== 'keys') return;
      this.invalidate(change.id);
    });
  }

  verify(rawKey: string): VerifiedKey | null | Promise<VerifiedKey | null> {
    if (!hasValidChecksum(rawKey)) return null;
    const hash = hashKey(rawKey);
    const entry = this.#cache.get(hash);
    if (entry !== undefined) {
      const now = this.#clock.now().getTime();
      if (entry.cachedUntil > now) {
        if (entry.key === null || entry.keyExpiresAt <= now) return null;
        this.#used.add(entry.key.id);
        return entry.key;
      }
    }
    let loading = this.#loading.get(hash);
    if (loading === undefined) {
      loading = this.#load(hash);
      this.#loading.set(hash, loading);
    }
    return loading;
  }

  /** Drops a key (by id) from the cache, or everything for '*'. */
  invalidate(id: string): void {
    this.#generation++;
    if (id === '*') {
      this.#cache.clear();
      this.#hashById.clear();
      this.#negativeCount = 0;
      return;
    }
    const hash = this.#hashById.get(id);
    if (hash !== undefined) {
      this.#cache.delete(hash);
      this.#hashById.delete(id);
    }
  }

  async #load(hash: string): Promise<VerifiedKey | null> {
    const generation = this.#generation;
    try {
      const row = await this.#repo.byHash(hash);
      const now = this.#clock.now().getTime();
      const keyExpiresAt = row?.expires_at ? row.expires_at.getTime() : Number.POSITIVE_INFINITY;
      const valid = row !== null && row.revoked_at === null && keyExpiresAt > now;
      const key: VerifiedKey | null = valid
        ? {
            id: row.id,
            name: row.name,
            prefix: row.prefix,
            customerId: row.customer_id,
            subscriptionId: row.subscription_id,
            metadata: row.metadata,
            expiresAt: row.expires_at,
          }
        : null;
      // A change published while we were reading may describe a newer state: do not cache then.
      if (generation === this.#generation) {
        if (key === null) {
          if (this.#negativeCount >= this.#maxNegative) this.#dropNegatives();
          this.#negativeCount++;
        } else {
          this.#hashById.set(key.id, hash);
        }
        if (row) this.#hashById.set(row.id, hash);
        this.#cache.set(hash, {
          key,
          keyExpiresAt,
          cachedUntil: now + (key ? this.#positiveTtl : this.#negativeTtl),
        });
      }
      if (key) this.#used.add(key.id);
      return key;
    } finally {
      this.#loading.delete(hash);
    }
  }

  #dropNegatives(): void {
    for (const [hash, entry] of this.#cache) if (entry.key === null) this.#cache.delete(hash);
    this.#negativeCount = 0;
  }

  /**
   * Writes last_used_at for keys seen since the last flush (one UPDATE). Run every few seconds by
   * the scheduler (compose/jobs.ts) and once more at `close`.
   */
  async flushUsage(): Promise<void> {
    if (this.#used.size === 0) return;
    const ids = [...this.#used];
    this.#used = new Set();
    try {
      await this.#repo.touch(ids, this.#clock.now());
    } catch (error) {
      this.#log?.error({ err: error }, 'could not record key last_used_at');
    }
  }

  async close(): Promise<void> {
    this.#unsubscribe();
    await this.flushUsage();
  }
}
