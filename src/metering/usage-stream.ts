import { DiscardPolicy, type JetStreamManager, RetentionPolicy, StorageType } from '@nats-io/jetstream';
import { nanos } from '@nats-io/transport-node';
import { formatBytes } from '../util/bytes.ts';
import type { Logger } from '../util/log.ts';
import {
  isInsufficientStorage,
  MIN_USAGE_STREAM_BYTES,
  planStreamSize,
  refused,
  SETTING,
  type StreamSize,
} from './usage-stream-size.ts';

/** The usage stream's settings, defaults applied. */
export interface Resolved {
  stream: string;
  subject: string;
  duplicateWindowMs: number;
  maxAgeMs: number;
  /** null: chosen at start-up to fit the JetStream store. */
  maxBytes: number | null;
  discard: 'old' | 'new';
}

/**
 * Creates the stream if it does not exist (several processes may race: "already in use" is fine),
 * and brings the limits of an existing one (size, age, discard policy) to the configured values:
 * before these were settings, streams were created without a size limit, and a full disk hung
 * every response.
 */
export async function ensureUsageStream(
  jsm: JetStreamManager,
  resolved: Resolved,
  log?: Logger,
): Promise<StreamSize> {
  const size = await planStreamSize(jsm, resolved.stream, resolved.maxBytes);
  // NATS reserves max_bytes up front and refuses a stream larger than its store, which it does not
  // report to accounts: a size chosen by Tollgate is halved until the server accepts it.
  let refusedOnce = false;
  for (;;) {
    try {
      await applyStreamLimits(jsm, { ...resolved, maxBytes: size.bytes });
      break;
    } catch (error) {
      if (!isInsufficientStorage(error)) throw error;
      if (size.explicit || size.bytes / 2 < MIN_USAGE_STREAM_BYTES)
        throw refused(resolved.stream, size, error);
      refusedOnce = true;
      size.bytes = Math.floor(size.bytes / 2);
    }
  }
  if (refusedOnce) {
    // The largest size accepted is up to all the server has left: take half of it.
    size.bytes = Math.max(MIN_USAGE_STREAM_BYTES, Math.floor(size.bytes / 2));
    size.why = `half of the largest size the NATS server's JetStream store accepted (${SETTING} not set)`;
    await applyStreamLimits(jsm, { ...resolved, maxBytes: size.bytes });
  }
  log?.info(
    { stream: resolved.stream, maxBytes: size.bytes },
    `usage stream "${resolved.stream}": at most ${formatBytes(size.bytes)} on each NATS server's disk (${size.why})`,
  );
  return size;
}

async function applyStreamLimits(
  jsm: JetStreamManager,
  resolved: Resolved & { maxBytes: number },
): Promise<void> {
  const limits = {
    max_age: nanos(resolved.maxAgeMs),
    max_bytes: resolved.maxBytes,
    discard: resolved.discard === 'new' ? DiscardPolicy.New : DiscardPolicy.Old,
  };
  try {
    const info = await jsm.streams.info(resolved.stream);
    const current = info.config;
    if (
      current.max_age !== limits.max_age ||
      current.max_bytes !== limits.max_bytes ||
      current.discard !== limits.discard
    ) {
      await jsm.streams.update(resolved.stream, { ...current, ...limits });
    }
    return;
  } catch (error) {
    if (!/not found/i.test((error as Error).message)) throw error;
  }
  try {
    await jsm.streams.add({
      name: resolved.stream,
      subjects: [`${resolved.subject}.>`],
      storage: StorageType.File,
      retention: RetentionPolicy.Limits,
      duplicate_window: nanos(resolved.duplicateWindowMs),
      ...limits,
    });
  } catch (error) {
    if (!/already in use|exists/i.test((error as Error).message)) throw error;
  }
}
