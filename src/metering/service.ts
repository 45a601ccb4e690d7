import { problems } from '../http/problem.ts';
import type { Store } from '../store/index.ts';
import type { Clock } from '../util/clock.ts';
import type { Logger } from '../util/log.ts';
import { inTimeRange, parseCloudEvents } from './cloud-events.ts';
import type { UsageEvent } from './events.ts';
import type { MeterRegistry } from './meters.ts';
import { valuesFor, warnMiss } from './meters.ts';
import type { ValueRow } from './model.ts';
import {
  BATCH_HAS_STORED_EVENTS,
  insertBatchSkipped,
  type PreparedBatch,
  prepareBatch,
  saveCheckpoint,
  writePrepared,
} from './repo.ts';

/**
 * Ingest: validated CloudEvents → one transaction (events deduplicated on (source, id), meter
 * values and rollups for the new ones only). Every writer goes through `write`: the HTTP API,
 * `tollgate usage import`, the embedded usage log consumer and the JetStream consumer
 * (`writeBatch` has the `UsageBatchWriter` shape). Replaying a batch is always safe.
 */
export interface IngestOptions {
  /** Record a usage-log consumer's position in the same transaction as the batch. */
  checkpoint?: { consumer: string; position: string };
  /**
   * What happens to an event that does not fit one of its meters (e.g. `tokens` is missing or not
   * a number): `'all'` refuses the whole batch (400, nothing stored; `tollgate usage import` and
   * `POST /api/v1/events?strict=true`); `'meters'` refuses it only for meters declared
   * `strict: true` and otherwise stores the event without a value for that meter, as OpenMeter
   * does (`POST /api/v1/events`); absent, nothing is refused (the usage log consumer: its events
   * were already accepted by the gateway, so a bad one is logged and stored, but not counted).
   */
  strict?: 'all' | 'meters';
}

export interface IngestService {
  write(events: readonly UsageEvent[], options?: IngestOptions): Promise<{ inserted: number }>;
  /** For the JetStream consumer (`UsageBatchWriter`). */
  writeBatch(events: UsageEvent[]): Promise<void>;
  /**
   * Checks a batch as OpenMeter would (400 with `errors[]` naming `[index].field`). `mayHoldNul`:
   * the request's JSON text holds a `\u0000` escape (see parseCloudEvents).
   */
  /** `drop`: leave out the events OpenMeter accepts and drops (parseCloudEvents) instead of refusing the batch. */
  parse(body: unknown, clock?: Clock, mayHoldNul?: boolean, drop?: boolean): UsageEvent[];
}

/** Rows per statement: big enough to amortise, small enough to keep parameters reasonable. */
const CHUNK = 20_000;
const CONSUMER_BEHIND_FAILURE =
  'an earlier batch of this usage log consumer failed; it resumes from its checkpoint';

/** Writes waiting while another commits are merged into one transaction of at most this many events. */
const GROUP_EVENTS = 20_000;

interface PendingWrite {
  events: readonly UsageEvent[];
  /** The events' meter values when already extracted (strict writes check them first). */
  values?: ValueRow[];
  checkpoint?: { consumer: string; position: string };
  resolve: (inserted: number) => void;
  reject: (error: unknown) => void;
}

const eventKey = (e: UsageEvent) => `${e.source}\u0000${e.id}`;

/** Drops repeats of the same (source, id) inside one batch (first one wins, as in the store). */
function uniqueEvents(events: readonly UsageEvent[]): readonly UsageEvent[] {
  const seen = new Set<string>();
  let duplicates = false;
  for (const e of events) {
    const k = `${e.source}\u0000${e.id}`;
    if (seen.has(k)) {
      duplicates = true;
      break;
    }
    seen.add(k);
  }
  if (!duplicates) return events;
  seen.clear();
  return events.filter((e) => {
    const k = `${e.source}\u0000${e.id}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/**
 * Log consumers cannot send a 400 back: an event that would fail the insert (e.g. a custom
 * metering hook that left `subject` empty) is logged and dropped, so it cannot block the batches
 * behind it forever. Events as the gateway writes them pass untouched.
 */
function wellFormed(events: readonly UsageEvent[], log: Logger): readonly UsageEvent[] {
  const ok = (e: UsageEvent) =>
    e !== null &&
    typeof e === 'object' &&
    typeof e.id === 'string' &&
    e.id !== '' &&
    typeof e.source === 'string' &&
    e.source !== '' &&
    typeof e.type === 'string' &&
    e.type !== '' &&
    typeof e.subject === 'string' &&
    e.subject !== '' &&
    typeof e.time === 'string' &&
    inTimeRange(Date.parse(e.time)) &&
    e.data !== null &&
    typeof e.data === 'object' &&
    !Array.isArray(e.data);
  if (events.every(ok)) return events;
  return events.filter((e) => {
    if (ok(e)) return true;
    log.error(
      { event: e },
      'usage event is not a valid CloudEvent (id, source, type, subject, time, data); dropped',
    );
    return false;
  });
}

export function createIngestService(deps: {
  store: Store;
  meters: MeterRegistry;
  clock: Clock;
  log: Logger;
}): IngestService {
  const { store, meters, log } = deps;
  const warn = warnMiss(log);

  /**
   * Extracts every event's meter values; refuses the whole batch when one does not fit a meter
   * (`all`) or a meter declared strict (`meters`). Other misses are skipped without a log line:
   * the client was told nothing is wrong, as OpenMeter tells it.
   */
  const checkedValues = (events: readonly UsageEvent[], mode: 'all' | 'meters'): ValueRow[] => {
    const errors: { path: string; message: string }[] = [];
    const seen = new Set<string>();
    const values = valuesFor(meters, events, (_event, index, meter, miss) => {
      if (mode === 'meters' && !meter.strict) return;
      const path = `[${index}].${miss.field}`;
      // Several meters may read the same field: one error for it.
      if (seen.has(path)) return;
      seen.add(path);
      errors.push({ path, message: miss.message });
    });
    if (errors.length > 0) {
      throw problems.validation(
        `${errors.length} event${errors.length > 1 ? 's do' : ' does'} not fit a meter; nothing was stored. First: ${errors[0]?.path}: ${errors[0]?.message}`,
        errors.slice(0, 100),
      );
    }
    return values;
  };

  /** The events of one or more writes, merged (first sender of an event owns it), ready to send. */
  interface PreparedGroup {
    group: readonly PendingWrite[];
    events: readonly UsageEvent[];
    /** Per event: the index of the write it belongs to. */
    owner: number[];
    /** The one-statement form; null when the group is too big or duplicates are expected. */
    batch: PreparedBatch | null;
  }

  /** True after a batch held stored events, until a batch holds none: replays come in runs. */
  let replaying = false;

  const prepare = (group: readonly PendingWrite[]): PreparedGroup => {
    let events: readonly UsageEvent[];
    let owner: number[];
    if (group.length === 1) {
      events = (group[0] as PendingWrite).events;
      owner = new Array<number>(events.length).fill(0);
    } else {
      const merged: UsageEvent[] = [];
      owner = [];
      const seen = new Set<string>();
      group.forEach((w, index) => {
        for (const e of w.events) {
          const k = eventKey(e);
          if (seen.has(k)) continue;
          seen.add(k);
          merged.push(e);
          owner.push(index);
        }
      });
      events = merged;
    }
    const checkpoints = group.flatMap((w) => (w.checkpoint ? [w.checkpoint] : []));
    // Values extracted by the writes themselves fit the merged events when none was dropped.
    const sent = group.reduce((n, w) => n + w.events.length, 0);
    const known = sent === events.length && group.every((w) => w.values !== undefined);
    const batch =
      !replaying && events.length > 0 && events.length <= CHUNK
        ? prepareBatch(
            events,
            known ? group.flatMap((w) => w.values as ValueRow[]) : valuesFor(meters, events, warn),
            checkpoints,
          )
        : null;
    return { group, events, owner, batch };
  };

  /** The transactional path: inserts, learns which events were stored already, counts the rest. */
  const writeSkipping = async ({ group, events, owner }: PreparedGroup): Promise<number[]> => {
    const inserted = group.map(() => 0);
    let skippedAny = false;
    await store.transaction(async (tx) => {
      const skipped = new Set<string>();
      for (let i = 0; i < events.length; i += CHUNK) {
        const chunk = events.length <= CHUNK ? events : events.slice(i, i + CHUNK);
        for (const k of await insertBatchSkipped(tx, chunk, valuesFor(meters, chunk, warn))) skipped.add(k);
      }
      skippedAny = skipped.size > 0;
      events.forEach((e, i) => {
        if (skippedAny && skipped.has(eventKey(e))) return;
        const o = owner[i] as number;
        inserted[o] = (inserted[o] as number) + 1;
      });
      for (const w of group) {
        if (w.checkpoint) await saveCheckpoint(tx, w.checkpoint.consumer, w.checkpoint.position);
      }
    });
    replaying = skippedAny;
    return inserted;
  };

  /** Writes a prepared group; answers each write's number of new events. */
  const commit = async (prepared: PreparedGroup): Promise<number[]> => {
    if (prepared.batch) {
      try {
        await writePrepared(store.db, prepared.batch);
        const inserted = prepared.group.map(() => 0);
        for (const o of prepared.owner) inserted[o] = (inserted[o] as number) + 1;
        return inserted;
      } catch (error) {
        if ((error as { code?: unknown }).code !== BATCH_HAS_STORED_EVENTS) throw error;
        replaying = true;
      }
    }
    return writeSkipping(prepared);
  };

  /**
   * Group commit, pipelined: a write that arrives while another commits waits, then goes with
   * every other waiting write as one group. While a group is in the database, the next one is
   * prepared here (meter values, rollup deltas, parameters), so with the embedded database in its
   * own thread both cores work. One group is in the database at a time, so groups commit in
   * arrival order. When a merged group fails, each write is retried alone, so one bad write cannot
   * fail the others. A consumer's checkpoint never passes a failed batch: after one of its writes
   * fails, its writes already waiting fail too, and it resumes from its last committed position.
   */
  const queue: PendingWrite[] = [];
  let flushing = false;

  const takeGroup = (): PendingWrite[] => {
    const group = [queue.shift() as PendingWrite];
    let size = (group[0] as PendingWrite).events.length;
    while (queue.length > 0 && size + (queue[0] as PendingWrite).events.length <= GROUP_EVENTS) {
      const next = queue.shift() as PendingWrite;
      size += next.events.length;
      group.push(next);
    }
    return group;
  };

  const failConsumers = (consumers: Set<string>, prepared: PreparedGroup | null): PreparedGroup | null => {
    const behind = (w: PendingWrite) => w.checkpoint !== undefined && consumers.has(w.checkpoint.consumer);
    const failed = new Error(CONSUMER_BEHIND_FAILURE);
    for (let i = queue.length - 1; i >= 0; i--) {
      const w = queue[i] as PendingWrite;
      if (!behind(w)) continue;
      queue.splice(i, 1);
      w.reject(failed);
    }
    if (!prepared?.group.some(behind)) return prepared;
    for (const w of prepared.group) if (behind(w)) w.reject(failed);
    const rest = prepared.group.filter((w) => !behind(w));
    return rest.length > 0 ? prepare(rest) : null;
  };

  const settle = async (prepared: PreparedGroup): Promise<Set<string>> => {
    const failedConsumers = new Set<string>();
    try {
      const inserted = await commit(prepared);
      prepared.group.forEach((w, i) => {
        w.resolve(inserted[i] as number);
      });
      return failedConsumers;
    } catch (error) {
      if (prepared.group.length === 1) {
        const w = prepared.group[0] as PendingWrite;
        if (w.checkpoint) failedConsumers.add(w.checkpoint.consumer);
        w.reject(error);
        return failedConsumers;
      }
    }
    for (const w of prepared.group) {
      if (w.checkpoint && failedConsumers.has(w.checkpoint.consumer)) {
        w.reject(new Error(CONSUMER_BEHIND_FAILURE));
        continue;
      }
      try {
        w.resolve((await commit(prepare([w])))[0] as number);
      } catch (alone) {
        if (w.checkpoint) failedConsumers.add(w.checkpoint.consumer);
        w.reject(alone);
      }
    }
    return failedConsumers;
  };

  /**
   * Prepares a group; a write whose events cannot be prepared (e.g. data too deep to serialise,
   * from a custom metering hook) fails alone with its error instead of ending the process, and
   * the writes grouped with it go on.
   */
  const prepareSafely = (group: PendingWrite[]): PreparedGroup | null => {
    try {
      return prepare(group);
    } catch (error) {
      const fine: PendingWrite[] = [];
      for (const w of group) {
        try {
          prepare([w]);
          fine.push(w);
        } catch (alone) {
          w.reject(alone);
        }
      }
      if (group.length === 1 || fine.length === 0) {
        log.error({ err: error }, 'usage events could not be prepared for the store; their write failed');
        return null;
      }
      return prepare(fine);
    }
  };

  const nextGroup = (): PreparedGroup | null => {
    while (queue.length > 0) {
      const prepared = prepareSafely(takeGroup());
      if (prepared) return prepared;
    }
    return null;
  };

  const flush = async () => {
    flushing = true;
    try {
      // One turn of the event loop, so requests already read off the sockets can join the group.
      await new Promise((resolve) => setImmediate(resolve));
      let next = nextGroup();
      while (next) {
        const committing = settle(next);
        await new Promise((resolve) => setImmediate(resolve));
        next = nextGroup();
        const failed = await committing;
        if (failed.size > 0) next = failConsumers(failed, next);
        if (!next) next = nextGroup();
      }
    } finally {
      flushing = false;
    }
  };

  const write: IngestService['write'] = async (input, options = {}) => {
    const checked = options.strict ? checkedValues(input, options.strict) : undefined;
    const events = uniqueEvents(options.strict ? input : wellFormed(input, log));
    // Repeats inside the batch were dropped: their values would count twice, so extract again.
    const values = events === input ? checked : undefined;
    if (events.length === 0 && !options.checkpoint) return { inserted: 0 };
    const inserted = await new Promise<number>((resolve, reject) => {
      queue.push({ events, values, checkpoint: options.checkpoint, resolve, reject });
      if (!flushing) void flush();
    });
    return { inserted };
  };

  return {
    write,
    async writeBatch(events) {
      await write(events);
    },
    parse(body, clock = deps.clock, mayHoldNul = false, drop = false) {
      const events = parseCloudEvents(body, () => clock.now(), mayHoldNul, drop);
      const sent = Array.isArray(body) ? body.length : 1;
      const dropped = sent - events.length;
      if (dropped > 0)
        log.warn({ dropped }, 'usage events without id, source, type or subject, or before 1970: dropped');
      return events;
    },
  };
}
