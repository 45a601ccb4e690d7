import { DiscardPolicy, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { DEFAULT_USAGE_CONSUMER, DEFAULT_USAGE_STREAM } from './jetstream-options.ts';

/** How full the usage stream is, for /readyz and /metrics (see `streamPressure`). */
export interface UsageStreamStatus {
  bytes: number;
  messages: number;
  maxBytes: number;
  discard: 'old' | 'new';
  /** Events not yet written to the meters (consumer pending + unacknowledged); null without a consumer. */
  unconsumed: number | null;
}

export async function usageStreamStatus(
  nc: NatsConnection,
  stream = DEFAULT_USAGE_STREAM,
  durable = DEFAULT_USAGE_CONSUMER,
): Promise<UsageStreamStatus> {
  const jsm = await jetstreamManager(nc);
  const info = await jsm.streams.info(stream);
  const consumer = await jsm.consumers.info(stream, durable).catch(() => null);
  return {
    bytes: info.state.bytes,
    messages: info.state.messages,
    maxBytes: info.config.max_bytes,
    discard: info.config.discard === DiscardPolicy.New ? 'new' : 'old',
    unconsumed: consumer ? consumer.num_pending + consumer.num_ack_pending : null,
  };
}

/**
 * The share of the size limit that is at risk, 0–1: with discard 'new' the whole stream counts
 * (at 1 the server refuses events and gateways answer 503); with 'old' only what the worker has
 * not metered yet counts (at 1 the server drops events before they are metered). Unconsumed
 * bytes are estimated from the average event size. An unlimited stream (max_bytes -1) is 0.
 */
export function streamPressure(status: UsageStreamStatus): number {
  if (status.maxBytes <= 0) return 0;
  if (status.discard === 'new') return status.bytes / status.maxBytes;
  const perEvent = status.messages > 0 ? status.bytes / status.messages : 0;
  return ((status.unconsumed ?? 0) * perEvent) / status.maxBytes;
}

/** Lag of the usage consumer, read from any process (the console serves it on /metrics). */
export async function usageStreamLag(
  nc: NatsConnection,
  stream = DEFAULT_USAGE_STREAM,
  durable = DEFAULT_USAGE_CONSUMER,
): Promise<number> {
  const jsm = await jetstreamManager(nc);
  const info = await jsm.consumers.info(stream, durable);
  return info.num_pending + info.num_ack_pending;
}
