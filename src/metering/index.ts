import { join } from 'node:path';
import { Gauge } from 'prom-client';
import type { ResolvedConfig } from '../config/index.ts';
import type { ChangeFeed, Store } from '../store/index.ts';
import type { Clock } from '../util/clock.ts';
import type { Logger } from '../util/log.ts';
import { startEmbeddedConsumer, type UsageLogConsumer } from './consumer.ts';
import { withCustomerSubjects } from './customer-subjects.ts';
import { listEvents } from './event-list.ts';
import { openEmbeddedUsageLog } from './log.ts';
import { createMeterAdmin } from './meter-admin.ts';
import type { Metering } from './metering.ts';
import { openMeterRegistry } from './meters.ts';
import { createMeterReader } from './reader.ts';
import { createIngestService, type IngestService } from './service.ts';
import { type SubjectCompaction, startSubjectCompaction } from './subject-compaction.ts';
import { takeRateMeters } from './subject-values.ts';

export type { UsageLogConsumer } from './consumer.ts';
export { type CustomerSubjectStore, customerSubjectStore, subjectKeyOwners } from './customer-subjects.ts';
export type { UsageEvent, UsageLog } from './events.ts';
export { type CustomerSubjects, mountMeteringRoutes } from './http/index.ts';
export { type EmbeddedUsageLog, openEmbeddedUsageLog } from './log.ts';
export type { Metering } from './metering.ts';
export type { LiveMeterRegistry, MeterRegistry } from './meters.ts';
export type { Meter } from './model.ts';
export type {
  GroupByValuesParams,
  MeterQueryParams,
  MeterQueryResult,
  MeterQueryRow,
  MeterReader,
  WindowSize,
} from './query.ts';
export type { IngestOptions, IngestService } from './service.ts';

export interface StartMeteringOptions {
  store: Store;
  config: ResolvedConfig;
  clock: Clock;
  log: Logger;
  dataDir: string;
  /** Open the embedded log for appends (the process runs the gateway and no external log is set). */
  openLog: boolean;
  /** Run the embedded consumer (roles all/worker without an external log). */
  runConsumer: boolean;
  /** 'always' fsyncs every append (see log.ts); default: group commit every few ms. */
  fsync?: 'batch' | 'always';
  /** Tells other processes about meters created or changed through the API (topic `meters`). */
  changes?: ChangeFeed;
}

export async function startMetering(options: StartMeteringOptions): Promise<Metering> {
  const { store, config, clock, log } = options;
  const meters = await openMeterRegistry(store, config.meters, log, { readOnly: false });
  const compaction = startSubjectCompaction({ store, meters, slugs: () => takeRateMeters(config), log });
  const ingest = compacting(createIngestService({ store, meters, clock, log }), compaction);
  const admin = createMeterAdmin({ store, meters, log, changes: options.changes });
  const unsubscribe = options.changes?.subscribe((change) => {
    if (change.topic !== 'meters') return;
    meters.refresh().catch((error) => log.error({ err: error }, 'meters: could not re-read API meters'));
  });
  // Queries for a customer read all its subject keys (usage attribution): one store, no sync.
  const reader = withCustomerSubjects(createMeterReader({ store, meters, clock }), store);
  const dir = join(options.dataDir, 'usage-log');
  const usageLog = options.openLog ? openEmbeddedUsageLog({ dir, log, fsync: options.fsync }) : null;
  let consumer: UsageLogConsumer | null = null;
  if (options.runConsumer) {
    consumer = await startEmbeddedConsumer({
      dir,
      store,
      ingest,
      log,
      onAppend: usageLog ? (listener) => usageLog.onAppend(listener) : undefined,
      appended: usageLog ? () => usageLog.nextSeq : undefined,
    });
  }
  return {
    meters,
    reader,
    ingest,
    admin,
    usageLog,
    consumer,
    compaction,
    groupByValues: (params) => reader.groupByValues(params),
    listEvents: (filter) => listEvents(store, filter),
    lag: () => consumer?.lag() ?? 0,
    registerMetrics(registry) {
      new Gauge({
        name: 'tollgate_usage_log_lag',
        help: 'Usage events appended to the embedded usage log and not yet written to the meters',
        registers: [registry],
        collect() {
          this.set(consumer?.lag() ?? 0);
        },
      });
      new Gauge({
        name: 'tollgate_usage_events_consumed',
        help: 'Usage events this process moved from the embedded usage log into the meters',
        registers: [registry],
        collect() {
          this.set(consumer?.consumed ?? 0);
        },
      });
    },
    async stop() {
      unsubscribe?.();
      // Clean shutdown: the gateway has stopped appending; write what is left, then close.
      if (consumer) {
        await consumer
          .drain(5_000)
          .catch((error) => log.warn({ err: error }, 'usage log: left events for replay'));
        await consumer.stop();
      }
      await usageLog?.close();
      await compaction.stop();
    },
  };
}

/** Every writer's stored events count towards the next subject compaction. */
function compacting(ingest: IngestService, compaction: SubjectCompaction): IngestService {
  const write: IngestService['write'] = async (events, options) => {
    const result = await ingest.write(events, options);
    compaction.stored(result.inserted);
    return result;
  };
  return {
    ...ingest,
    write,
    async writeBatch(events) {
      await write(events);
    },
  };
}
