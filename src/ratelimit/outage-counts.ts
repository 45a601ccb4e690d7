import { randomUUID } from 'node:crypto';

/**
 * What one node counted on its own quota counters while Redis was unreachable (fail open), and
 * how those counts reach Redis when it answers again.
 *
 * Every node counts the outage locally, so the true count is Redis's count plus what each node
 * added. Raising Redis to the largest local count (as it once did) kept only one node's calls:
 * with N nodes a customer could get N times its quota through an outage. Each node now adds its
 * own delta, exactly once: the merge script sets a marker per node, outage and counter before it
 * adds, so a recovery that fails half way and runs again does not add twice.
 */

/** One counter's local change during one outage. */
export interface OutageCount {
  /** The local count before the outage's first change: where a counter Redis lost starts from. */
  readonly base: number;
  /** What this node added (consumed, or added after the response; negative for give-backs). */
  delta: number;
  readonly resetAt: number;
}

/** One outage's counts, taken for merging under an id no other node or outage shares. */
export interface OutageMerge {
  readonly id: string;
  readonly counts: Map<string, OutageCount>;
}

// KEYS[1] counter, KEYS[2] marker of this node, outage and counter; ARGV: delta, base, resetAt.
// Adds delta once per marker; a counter Redis no longer has (a restart) starts from base.
// Returns the count after the merge.
export const MERGE_LUA = `
if not redis.call('SET', KEYS[2], '1', 'NX', 'PX', 86400000) then
  return redis.call('GET', KEYS[1]) or ARGV[2]
end
if not redis.call('GET', KEYS[1]) then
  redis.call('SET', KEYS[1], ARGV[2])
  redis.call('PEXPIREAT', KEYS[1], ARGV[3])
end
return redis.call('INCRBYFLOAT', KEYS[1], ARGV[1])
`;

export class OutageCounts {
  /** Names this node in merge markers. */
  readonly #node = randomUUID();
  #outage = 0;
  #live = new Map<string, OutageCount>();
  /** Outages taken for merging that have not all reached Redis yet, oldest first. */
  readonly #pending: OutageMerge[] = [];

  /** A local change of `applied` that left the counter at `used`. */
  counted(key: string, applied: number, used: number, resetAt: number): void {
    if (applied === 0) return;
    const count = this.#live.get(key);
    if (count !== undefined && count.resetAt === resetAt) {
      count.delta += applied;
      return;
    }
    this.#live.set(key, { base: used - applied, delta: applied, resetAt });
  }

  /** Counts still to merge (for tests and logs). */
  get size(): number {
    return this.#live.size + this.#pending.reduce((n, merge) => n + merge.counts.size, 0);
  }

  /** Every outage not merged yet, oldest first; the current one is closed and a new one begins. */
  take(): readonly OutageMerge[] {
    if (this.#live.size > 0) {
      this.#outage++;
      this.#pending.push({ id: `${this.#node}:${this.#outage}`, counts: this.#live });
      this.#live = new Map();
    }
    return [...this.#pending];
  }

  /** The merge reached Redis in full. */
  merged(merge: OutageMerge): void {
    const at = this.#pending.indexOf(merge);
    if (at >= 0) this.#pending.splice(at, 1);
  }
}
