import { closeSync, existsSync, fstatSync, openSync, readSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import type { Store } from '../store/index.ts';
import type { Logger } from '../util/log.ts';
import type { UsageEvent } from './events.ts';
import { listSegments, segmentName } from './log.ts';
import { loadCheckpoint } from './repo.ts';
import type { IngestService } from './service.ts';

/**
 * Consumers move usage events from a log into the store through one batch writer: metering's
 * `IngestService.write`, which dedupes on (source, id) and, when given a checkpoint, records the
 * consumer's position in the same transaction as the batch. Replay is therefore always safe, and
 * a restart resumes exactly where the last committed batch ended.
 *
 * Any log backend can feed it: the embedded file log below records a file position; the
 * JetStream consumer (jetstream.ts) hands the same writer its batches and acks after commit.
 */
export interface UsageLogConsumer {
  /** Events appended but not yet in the store (for /metrics). */
  lag(): number;
  /** Events written to the store by this process. */
  readonly consumed: number;
  /** Resolves when everything appended so far is in the store (tests, clean shutdown). */
  drain(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

export interface LogPosition {
  /** Base sequence number of the segment file. */
  segment: number;
  /** Byte offset of the next unread line in that segment. */
  offset: number;
  /** Sequence number of the next unread event. */
  seq: number;
}

export const EMBEDDED_CONSUMER = 'embedded-usage-log';

export interface EmbeddedConsumerOptions {
  dir: string;
  store: Store;
  ingest: Pick<IngestService, 'write'>;
  log: Logger;
  /** Where appends are announced (the in-process writer); else the consumer polls. */
  onAppend?: (listener: () => void) => () => void;
  /** Sequence number of the next append, when the writer is in this process (for lag). */
  appended?: () => number;
  batchSize?: number;
  /**
   * When less than a batch is waiting, wait this long first so more events join it (larger
   * batches: fewer transactions, rollup rows touched once per batch). Default 10 ms.
   */
  lingerMs?: number;
  pollMs?: number;
  name?: string;
}

const READ_CHUNK = 4 * 1024 * 1024;
/** Failures of the same batch after which its events are tried one at a time. */
const ISOLATE_AFTER = 3;

/** Where consuming starts: the saved checkpoint, else the oldest segment on disk. */
async function startPosition(store: Store, name: string, dir: string): Promise<LogPosition> {
  const saved = await loadCheckpoint(store, name);
  let position: LogPosition = saved ? (JSON.parse(saved) as LogPosition) : { segment: 0, offset: 0, seq: 0 };
  if (!saved) {
    const first = listSegments(dir)[0];
    if (first !== undefined) position = { segment: first, offset: 0, seq: first };
  }
  return position;
}

/**
 * Parses up to `batchSize` complete lines of `target` (read at `at`, last newline at `end`);
 * an unreadable line is logged and skipped but still counted, so the position moves past it.
 */
function parseLines(
  target: Buffer,
  end: number,
  at: LogPosition,
  batchSize: number,
  log: Logger,
): { events: UsageEvent[]; next: LogPosition } {
  const events: UsageEvent[] = [];
  let start = 0;
  let seq = at.seq;
  let consumedBytes = 0;
  while (start <= end && events.length < batchSize) {
    const nl = target.indexOf(10, start);
    const line = target.toString('utf8', start, nl);
    try {
      if (line.includes('\\u0000')) throw new Error('holds U+0000, which the store cannot hold');
      events.push(JSON.parse(line) as UsageEvent);
    } catch (error) {
      log.error(
        { segment: at.segment, offset: at.offset + start, reason: (error as Error).message },
        'usage log: unreadable line skipped',
      );
    }
    seq += 1;
    start = nl + 1;
    consumedBytes = start;
  }
  return { events, next: { segment: at.segment, offset: at.offset + consumedBytes, seq } };
}

/** Deletes the segments older than `segment`: every event in them is in the store. */
function deleteSegmentsBefore(dir: string, segment: number, log: Logger): void {
  for (const b of listSegments(dir)) {
    if (b >= segment) break;
    try {
      unlinkSync(join(dir, segmentName(b)));
    } catch (error) {
      log.warn({ err: error, segment: b }, 'usage log: could not delete a consumed segment');
    }
  }
}

// A module factory: the read position, the open segment and the run state are shared by the
// functions inside, and the 80-line rule applies to those.
export async function startEmbeddedConsumer(options: EmbeddedConsumerOptions): Promise<UsageLogConsumer> {
  const { dir, log } = options;
  const name = options.name ?? EMBEDDED_CONSUMER;
  const batchSize = options.batchSize ?? 20_000;
  const pollMs = options.pollMs ?? 50;
  const lingerMs = options.lingerMs ?? 10;
  let position = await startPosition(options.store, name, dir);
  /** Where the next read starts: ahead of `position` (committed) while a batch is being written. */
  let ahead: LogPosition = position;
  let fd: number | null = null;
  let fdSegment = -1;
  let consumed = 0;
  let stopped = false;
  let running: Promise<void> | null = null;
  let again = false;
  let failures = 0;
  let timer: NodeJS.Timeout | null = null;
  const buf = Buffer.allocUnsafe(READ_CHUNK);

  const openSegment = (): boolean => {
    if (fd !== null && fdSegment === ahead.segment) return true;
    if (fd !== null) closeSync(fd);
    fd = null;
    const file = join(dir, segmentName(ahead.segment));
    if (!existsSync(file)) {
      // The checkpoint's segment was consumed and deleted: continue with the next one.
      const next = listSegments(dir).find((b) => b >= ahead.seq);
      if (next === undefined) return false;
      ahead = { segment: next, offset: 0, seq: next };
      return openSegment();
    }
    fd = openSync(file, 'r');
    fdSegment = ahead.segment;
    return true;
  };

  /** Reads complete lines from `ahead` on; null when nothing new. */
  const readBatch = (): { events: UsageEvent[]; next: LogPosition } | null => {
    if (!openSegment() || fd === null) return null;
    let target: Buffer = buf;
    for (;;) {
      const n = readSync(fd, target, 0, target.length, ahead.offset);
      const end = n > 0 ? target.lastIndexOf(10, n - 1) : -1;
      if (end >= 0) {
        return parseLines(target, end, ahead, batchSize, log);
      }
      if (n === target.length) {
        // One line longer than the buffer: read it with a bigger one.
        target = Buffer.allocUnsafe(target.length * 2);
        continue;
      }
      // End of this segment. Move on only if the writer has started a newer one.
      const newer = listSegments(dir).find((b) => b > ahead.segment);
      if (newer === undefined) return null;
      const size = fstatSync(fd).size;
      if (ahead.offset < size) return null; // a torn tail being repaired; wait
      return { events: [], next: { segment: newer, offset: 0, seq: newer } };
    }
  };

  const deleteConsumedSegments = () => deleteSegmentsBefore(dir, position.segment, log);

  const checkpointAt = (next: LogPosition) => ({ consumer: name, position: JSON.stringify(next) });

  /** A batch is in the store with the checkpoint after it: move on, drop segments left behind. */
  const committed = (batch: { events: UsageEvent[]; next: LogPosition }) => {
    const movedSegment = batch.next.segment !== position.segment;
    position = batch.next;
    consumed += batch.events.length;
    failures = 0;
    if (movedSegment) deleteConsumedSegments();
  };

  /**
   * Reads and sends batches until the log is drained. Two writes may be in flight: while the
   * store commits one, the next is read and prepared. The committed position moves only when a
   * write resolves (they resolve in order); after a failure, reading resumes from it.
   */
  const run = async () => {
    const inFlight: Promise<void>[] = [];
    try {
      while (!stopped) {
        const waiting = options.appended ? options.appended() - ahead.seq : 0;
        if (lingerMs > 0 && waiting > 0 && waiting < batchSize)
          await new Promise((r) => setTimeout(r, lingerMs));
        const batch = readBatch();
        if (!batch) break;
        ahead = batch.next;
        const written = options.ingest
          .write(batch.events, { checkpoint: checkpointAt(batch.next) })
          .then(() => committed(batch));
        written.catch(() => {}); // awaited below; a failure must not go unhandled meanwhile
        inFlight.push(written);
        if (inFlight.length >= 2) await inFlight.shift();
      }
      while (inFlight.length > 0) await inFlight.shift();
    } catch (error) {
      await Promise.allSettled(inFlight);
      ahead = position;
      failures += 1;
      log.error({ err: error, failures }, 'usage log consumer: batch failed; retrying');
      await new Promise((r) => setTimeout(r, Math.min(5_000, 100 * 2 ** failures)));
      if (failures >= ISOLATE_AFTER && !stopped) await isolate().catch(() => {});
      again = true;
    }
  };

  /**
   * A batch that keeps failing may hold an event the store refuses. Its events are written one
   * at a time: if some succeed and some fail, the failing ones are logged and left out and the
   * checkpoint moves past the batch; if every one fails, the store itself is failing, and the
   * batch is retried later as it is.
   */
  const isolate = async () => {
    const batch = readBatch();
    if (!batch) return;
    const refused: UsageEvent[] = [];
    for (const event of batch.events) {
      try {
        await options.ingest.write([event]);
      } catch (error) {
        refused.push(event);
        log.debug({ err: error }, 'usage log consumer: event refused alone');
      }
    }
    if (refused.length === batch.events.length) return;
    for (const event of refused) {
      log.error({ event }, 'usage log consumer: the store refuses this event; left out of the meters');
    }
    await options.ingest.write([], { checkpoint: checkpointAt(batch.next) });
    committed(batch);
    ahead = position;
  };

  const kick = () => {
    if (stopped) return;
    if (running) {
      again = true;
      return;
    }
    running = run().finally(() => {
      running = null;
      if (again) {
        again = false;
        kick();
      }
    });
  };

  const unsubscribe = options.onAppend?.(() => kick()) ?? (() => {});
  const poll = () => {
    kick();
    if (!stopped) timer = setTimeout(poll, pollMs);
  };
  deleteConsumedSegments();
  poll();

  return {
    lag: () => (options.appended ? Math.max(0, options.appended() - position.seq) : 0),
    get consumed() {
      return consumed;
    },
    async drain(timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      while (options.appended && position.seq < options.appended()) {
        if (Date.now() > deadline) throw new Error(`usage log consumer did not catch up in ${timeoutMs} ms`);
        kick();
        await new Promise((r) => setTimeout(r, 5));
      }
      if (running) await running;
    },
    async stop() {
      stopped = true;
      unsubscribe();
      if (timer) clearTimeout(timer);
      if (running) await running;
      if (fd !== null) closeSync(fd);
      fd = null;
    },
  };
}
