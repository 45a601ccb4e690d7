import type { Logger } from '../util/log.ts';
import type { Resolved } from './usage-stream.ts';

/** Names and settings of the usage stream, shared by the gateway's publisher and the worker's consumer. */
export const DEFAULT_USAGE_STREAM = 'TOLLGATE_USAGE';
export const DEFAULT_USAGE_SUBJECT = 'tollgate.usage';
export const DEFAULT_USAGE_CONSUMER = 'tollgate-metering';

export interface JetStreamOptions {
  /** nats://host:port (comma-separated for a cluster). */
  url: string;
  /** Stream name; tests use their own so they can run in parallel. */
  stream?: string;
  /** Subjects are `<subject>.<event type>`; the stream captures `<subject>.>`. */
  subject?: string;
  /** Server-side dedupe window for message ids. Default 10 minutes. */
  duplicateWindowMs?: number;
  /** How long events stay in the stream (replay window). Default 7 days. */
  maxAgeMs?: number;
  /**
   * Largest size of the stream on the server's disk (per replica). Unset: chosen to fit the
   * JetStream store (`usage-stream-size.ts`). The stream is a buffer in front of metering, not
   * the record: see deploy/README.md for the disk budget.
   */
  maxBytes?: number;
  /**
   * What the server does at `maxBytes`: 'old' drops the oldest events (already metered unless the
   * worker is that far behind); 'new' refuses new ones (gateways answer 503). Default 'old'.
   */
  discard?: 'old' | 'new';
  /** Connection name shown by the server (`nats server report connections`). */
  name?: string;
  log?: Logger;
}

export function resolveOptions(options: JetStreamOptions): Resolved {
  const stream = options.stream ?? DEFAULT_USAGE_STREAM;
  const subject = options.subject ?? DEFAULT_USAGE_SUBJECT;
  if (!/^[A-Za-z0-9_-]+$/.test(stream)) throw new Error(`stream name "${stream}" may use A-Z a-z 0-9 _ -`);
  if (!/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/.test(subject)) {
    throw new Error(`usage subject "${subject}" must be dot-separated tokens such as "tollgate.usage"`);
  }
  return {
    stream,
    subject,
    duplicateWindowMs: options.duplicateWindowMs ?? 10 * 60_000,
    maxAgeMs: options.maxAgeMs ?? 7 * 24 * 3_600_000,
    maxBytes: options.maxBytes ?? null,
    discard: options.discard ?? 'old',
  };
}
