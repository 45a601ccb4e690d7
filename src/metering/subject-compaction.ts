import type { Store } from '../store/index.ts';
import type { Logger } from '../util/log.ts';
import type { MeterRegistry } from './meters.ts';
import { CHUNK_SIZE, type Executor, run } from './repo.ts';

/**
 * Copies waiting value chunks of a meter into one chunk per subject (migration 0412), so one
 * customer's values of a period are read from its own chunks instead of from every chunk of the
 * period. One statement: the chunks it picks are marked `compacted` in the same transaction as
 * their copies are written, so a reader always sees each value exactly once (subject-values.ts).
 * `skip locked`: two processes compacting at once take different chunks.
 */
const COMPACT_SQL = `
with picked as (
  select id, vals from usage_value_chunks
  where meter = $1 and not compacted
  order by id limit $2
  for update skip locked
),
marked as (
  update usage_value_chunks c set compacted = true from picked p where c.id = p.id
),
v as (
  select x.subject, x.time, x.value, x.value_text, x.dims
  from picked p
  cross join lateral json_to_recordset(p.vals::json)
    as x(time timestamptz, subject text, value text, value_text text, dims json)
),
ins as (
  insert into usage_value_subject_chunks (meter, subject, min_time, max_time, count, vals)
  select $1, subject, min(time), max(time), count(*)::int,
         json_agg(json_build_object('time', time, 'value', value, 'value_text', value_text, 'dims', dims)
                  order by time)::text
  from v group by subject
)
select count(*)::int as chunks from picked`;

/** Compacts up to `maxChunks` waiting value chunks of a meter; answers how many it took. */
export async function compactSubjectChunks(
  db: Executor,
  meterKey: number,
  maxChunks: number,
): Promise<number> {
  const [row] = await run<{ chunks: number }>(db, COMPACT_SQL, [meterKey, maxChunks]);
  return row?.chunks ?? 0;
}

/** Value chunks a meter may have waiting before a compaction starts: what a read unpacks at most. */
export const WAITING_CHUNKS = 16;
/** Value chunks one compaction statement takes at most (about 256k values). */
const CHUNKS_PER_STATEMENT = 256;

export interface SubjectCompaction {
  /** Events were stored: compacts in the background once about WAITING_CHUNKS chunks wait. */
  stored(events: number): void;
  /** Compacts every meter's waiting chunks now (also the ones below the threshold). */
  compactAll(): Promise<void>;
  /** Waits for a running compaction. */
  settled(): Promise<void>;
  /** Time spent in compaction statements and the value chunks they took, since start. */
  readonly work: { ms: number; chunks: number };
  /** Waits for a running compaction and starts no other. */
  stop(): Promise<void>;
}

/**
 * Background compaction of the meters `slugs()` names (the meters take rates read: see
 * takeRateMeters). A meter not compacted is still read exactly, by unpacking its chunks.
 */
export function startSubjectCompaction(deps: {
  store: Store;
  meters: MeterRegistry;
  slugs: () => readonly string[];
  log: Logger;
}): SubjectCompaction {
  let sinceLast = 0;
  let running: Promise<void> | null = null;
  let stopped = false;
  const work = { ms: 0, chunks: 0 };

  const meterKeys = () =>
    deps
      .slugs()
      .map((slug) => deps.meters.get(slug)?.key)
      .filter((key): key is number => key !== undefined);

  async function compact(minWaiting: number): Promise<void> {
    for (const key of meterKeys()) {
      for (;;) {
        const [waiting] = await run<{ n: number }>(
          deps.store.db,
          'select count(*)::int as n from usage_value_chunks where meter = $1 and not compacted',
          [key],
        );
        if (stopped || (waiting?.n ?? 0) < Math.max(minWaiting, 1)) break;
        const t = performance.now();
        const chunks = await compactSubjectChunks(deps.store.db, key, CHUNKS_PER_STATEMENT);
        work.ms += performance.now() - t;
        work.chunks += chunks;
        if (chunks === 0) break;
      }
    }
  }

  const start = (minWaiting: number) => {
    const next = (running ?? Promise.resolve())
      .then(() => compact(minWaiting))
      .catch((error) => deps.log.warn({ err: error }, 'metering: subject compaction failed; it is retried'))
      .finally(() => {
        if (running === next) running = null;
      });
    running = next;
    return next;
  };

  return {
    stored(events) {
      sinceLast += events;
      if (running || stopped || sinceLast < WAITING_CHUNKS * CHUNK_SIZE || meterKeys().length === 0) return;
      sinceLast = 0;
      void start(WAITING_CHUNKS);
    },
    work,
    compactAll: () => start(1),
    async settled() {
      while (running) await running;
    },
    async stop() {
      stopped = true;
      await running;
    },
  };
}
