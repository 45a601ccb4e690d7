import { type JetStreamManager, StorageType } from '@nats-io/jetstream';
import { formatBytes } from '../util/bytes.ts';

/**
 * How large the usage stream may grow on each NATS server's disk (`max_bytes`).
 *
 * nats-server reserves a stream's `max_bytes` when the stream is created or updated, against the
 * account's `max_storage` and against the server's own JetStream store (`max_file_store`, by
 * default 75 % of the disk free at start-up), and refuses a stream that does not fit with
 * "insufficient storage resources" (`checkBytesLimits` in nats-server's server/jetstream.go).
 * A fixed 10 GiB default therefore kept Tollgate from starting on a smaller store. So:
 * - set (`scaleOut.usageStreamLimits.maxBytes`): used as is; above the account's room, or refused
 *   by the server, start-up fails with one line naming the setting;
 * - unset: a stream that already has a size keeps it; else 10 GiB, at most half of the room the
 *   account's limits leave (`getAccountInfo`), and when the server refuses it (its store is not
 *   reported to accounts) the largest size it accepts, halved, leaving room for other streams.
 */

/** The size chosen when the setting is absent and JetStream has room for it. */
export const DEFAULT_USAGE_STREAM_MAX_BYTES = 10 * 1024 ** 3;
/** Below this a usage stream is not worth running: start-up fails and says why. */
export const MIN_USAGE_STREAM_BYTES = 64 * 1024 ** 2;

export interface StreamSize {
  bytes: number;
  /** Set in the config: never changed, only checked. */
  explicit: boolean;
  /** For the start-up line: where the figure comes from. */
  why: string;
}

export const SETTING = 'scaleOut.usageStreamLimits.maxBytes';

export function isInsufficientStorage(error: unknown): boolean {
  return /insufficient (storage )?resources|storage resources exceeded/i.test((error as Error).message);
}

/** The stream's own reservation today (0 when it does not exist or is unlimited). */
async function currentMaxBytes(jsm: JetStreamManager, stream: string): Promise<number | null> {
  try {
    return (await jsm.streams.info(stream)).config.max_bytes;
  } catch (error) {
    if (/not found/i.test((error as Error).message)) return null;
    throw error;
  }
}

/**
 * What the account's file streams reserve, for servers before 2.10 that do not report it: each
 * stream's max_bytes, or what it stores when it has no limit.
 */
async function fileReservations(jsm: JetStreamManager): Promise<number> {
  let reserved = 0;
  for await (const stream of jsm.streams.list()) {
    if (stream.config.storage !== StorageType.File) continue;
    reserved += stream.config.max_bytes > 0 ? stream.config.max_bytes : stream.state.bytes;
  }
  return reserved;
}

/** The storage the account's limits leave for this stream, or null when the account sets none. */
async function accountRoom(jsm: JetStreamManager, own: number): Promise<number | null> {
  const info = await jsm.getAccountInfo();
  const limits = info.limits;
  let room: number | null = null;
  if (limits.max_storage >= 0) {
    const reserved =
      (info as { reserved_storage?: number }).reserved_storage ?? (await fileReservations(jsm));
    room = limits.max_storage - reserved + own;
  }
  const perStream = limits.storage_max_stream_bytes;
  if (perStream > 0) room = room === null ? perStream : Math.min(room, perStream);
  return room;
}

/** The size to ask NATS for; throws the start-up error when it cannot fit the account. */
export async function planStreamSize(
  jsm: JetStreamManager,
  stream: string,
  configured: number | null,
): Promise<StreamSize> {
  const current = await currentMaxBytes(jsm, stream);
  const room = await accountRoom(jsm, Math.max(0, current ?? 0));
  if (configured !== null) {
    if (room !== null && configured > room) {
      throw new Error(
        `${SETTING} is ${formatBytes(configured)}, but the NATS account leaves the usage stream "${stream}" at most ${formatBytes(room)} of JetStream storage: lower the setting or raise the account's limit`,
      );
    }
    return { bytes: configured, explicit: true, why: SETTING };
  }
  if (current !== null && current > 0 && (room === null || current <= room)) {
    return { bytes: current, explicit: false, why: `the stream's size (${SETTING} not set)` };
  }
  if (room === null || room >= 2 * DEFAULT_USAGE_STREAM_MAX_BYTES) {
    return {
      bytes: DEFAULT_USAGE_STREAM_MAX_BYTES,
      explicit: false,
      why: `the default (${SETTING} not set)`,
    };
  }
  const half = Math.floor(room / 2);
  if (half < MIN_USAGE_STREAM_BYTES) throw tooSmall(stream, room, 'the NATS account leaves');
  return {
    bytes: half,
    explicit: false,
    why: `half of the ${formatBytes(room)} the NATS account leaves (${SETTING} not set)`,
  };
}

export function tooSmall(stream: string, room: number, what: string): Error {
  return new Error(
    `${what} the usage stream "${stream}" only ${formatBytes(room)} of JetStream storage (at least ${formatBytes(2 * MIN_USAGE_STREAM_BYTES)} needed): give JetStream more storage or set ${SETTING}`,
  );
}

/** The start-up error of a size the server refused. */
export function refused(stream: string, size: StreamSize, error: unknown): Error {
  const message = (error as Error).message;
  return new Error(
    size.explicit
      ? `NATS cannot reserve ${formatBytes(size.bytes)} (${SETTING}) for the usage stream "${stream}": lower the setting or give JetStream more storage (${message})`
      : `NATS cannot reserve even ${formatBytes(MIN_USAGE_STREAM_BYTES)} for the usage stream "${stream}": give JetStream more storage (${message})`,
    { cause: error },
  );
}
