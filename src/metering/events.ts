/**
 * Usage events are CloudEvents 1.0 (as in OpenMeter). `id` is deterministic for gateway events
 * (`<requestId>/<kind>`), so a replayed log deduplicates on (source, id) instead of counting twice.
 */
export interface UsageEvent {
  specversion: '1.0';
  id: string;
  source: string;
  type: string;
  /** The customer (OpenMeter's "subject"): Tollgate customer id for gateway events. */
  subject: string;
  /** RFC 3339 UTC. */
  time: string;
  datacontenttype?: 'application/json';
  data: Record<string, unknown>;
}

/**
 * Where usage events go first. `append` returns once the events survive a crash of this process
 * (embedded: written to the local log file, fsync batched; scale-out: acknowledged by JetStream).
 * The gateway completes a client's response only after `append` has returned.
 */
export interface UsageLog {
  append(events: readonly UsageEvent[]): void | Promise<void>;
  close(): Promise<void>;
}
