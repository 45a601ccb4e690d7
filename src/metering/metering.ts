import type { Registry } from 'prom-client';
import type { UsageLogConsumer } from './consumer.ts';
import type { EventFilter, ListedEventRow } from './event-list.ts';
import type { EmbeddedUsageLog } from './log.ts';
import type { MeterAdmin } from './meter-admin.ts';
import type { LiveMeterRegistry } from './meters.ts';
import type { GroupByValuesParams, MeterReader } from './query.ts';
import type { IngestService } from './service.ts';
import type { SubjectCompaction } from './subject-compaction.ts';

/**
 * Usage metering, as the rest of Tollgate sees it:
 * - `reader`: meter queries (billing, entitlements, portal);
 * - `ingest`: the one batch writer (HTTP API, import, log consumers; `ingest.writeBatch` has the
 *   JetStream consumer's `UsageBatchWriter` shape);
 * - `usageLog`: where the gateway appends events (the embedded log; null when the process does
 *   not run the gateway or when an external log such as JetStream is used instead).
 */
export interface Metering {
  /** The config's meters; `meters.reload(config.meters)` applies an edited config (dev mode). */
  readonly meters: LiveMeterRegistry;
  readonly reader: MeterReader;
  readonly ingest: IngestService;
  /** Meters created, changed and deleted through `POST/PUT/DELETE /api/v1/meters`. */
  readonly admin: MeterAdmin;
  readonly usageLog: EmbeddedUsageLog | null;
  readonly consumer: UsageLogConsumer | null;
  /** Keeps the take-rate meters' values ordered by customer as they are stored (subject-values.ts). */
  readonly compaction: SubjectCompaction;
  /** The distinct values of one group-by dimension (`GET /api/v1/meters/{m}/group-by/{k}/values`). */
  groupByValues(params: GroupByValuesParams): Promise<string[]>;
  /** Stored events, newest first (`GET /api/v1/events`). */
  listEvents(filter: EventFilter): Promise<ListedEventRow[]>;
  /** Events appended to the embedded log but not yet in the store (0 without one). */
  lag(): number;
  /** Adds `tollgate_usage_log_lag` and `tollgate_usage_events_consumed_total` to a registry. */
  registerMetrics(registry: Registry): void;
  stop(): Promise<void>;
}
