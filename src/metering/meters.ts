import type { MeterConfig } from '../config/index.ts';
import type { Store } from '../store/index.ts';
import { newId } from '../util/ids.ts';
import type { Logger } from '../util/log.ts';
import { loadApiMeters } from './api-meters.ts';
import type { UsageEvent } from './events.ts';
import {
  compileMeter,
  extract,
  type Meter,
  type MeterRow,
  meterFingerprint,
  type ValueRow,
  valueRow,
} from './model.ts';
import { deleteMeterData, type Executor, eventChunksAfter, insertValuesOnly, run } from './repo.ts';

/**
 * The meters of the running config. Each config meter is matched to its `metering_meters` row by
 * slug. A new meter is backfilled from the events already stored; a meter whose event type,
 * aggregation, value or group-by changed is rebuilt (its extracted values and rollups are
 * recomputed from the raw events), so a query never mixes two definitions. Both happen in one
 * transaction that holds the meter's row lock, so two processes starting together rebuild once.
 */
export interface MeterRegistry {
  list(): readonly Meter[];
  get(idOrSlug: string): Meter | undefined;
  /** Meters that read events of this type. */
  forType(type: string): readonly Meter[];
}

/** Event chunks (of up to 1,000 events) read per round when rebuilding a meter. */
const REBUILD_CHUNKS = 5;

/** An event that does not fit one of its meters: where, and why. */
export type MeterMiss = (
  event: UsageEvent,
  index: number,
  meter: Meter,
  miss: { field: string; message: string },
) => void;

/** Logs a miss as a warning (events already accepted, e.g. from a usage log, are not refused). */
export const warnMiss =
  (log?: Logger): MeterMiss =>
  (event, _index, meter, miss) =>
    log?.warn({ source: event.source, id: event.id, meter: meter.slug }, miss.message);

/** The meter values of the events; an event that does not fit a meter is told to `onMiss`. */
export function valuesFor(
  registry: MeterRegistry,
  events: readonly UsageEvent[],
  onMiss: MeterMiss,
): ValueRow[] {
  const values: ValueRow[] = [];
  events.forEach((event, index) => {
    for (const meter of registry.forType(event.type)) {
      const result = extract(meter, event);
      if (result.ok) values.push(valueRow(event, result.value));
      else onMiss(event, index, meter, result);
    }
  });
  return values;
}

export async function rebuild(tx: Executor, meter: Meter, log: Logger): Promise<number> {
  await deleteMeterData(tx, meter.key);
  const single: MeterRegistry = {
    list: () => [meter],
    get: () => meter,
    forType: (type) => (type === meter.eventType ? [meter] : []),
  };
  let after = 0;
  let total = 0;
  for (;;) {
    const page = await eventChunksAfter(tx, after, REBUILD_CHUNKS);
    if (page.length === 0) break;
    const events = page.flatMap((chunk) => chunk.events.filter((e) => e.type === meter.eventType));
    await insertValuesOnly(tx, valuesFor(single, events, warnMiss(log)));
    total += events.length;
    after = (page[page.length - 1] as { id: number }).id;
  }
  return total;
}

/** The meters of the config, created, backfilled or rebuilt in the store as needed. */
async function syncMeters(
  store: Store,
  meters: readonly MeterConfig[],
  log: Logger,
  options: { readOnly?: boolean },
): Promise<Meter[]> {
  const compiled: Meter[] = [];
  for (const config of meters) {
    const fingerprint = meterFingerprint(config);
    const row = await store.transaction(async (tx) => {
      const inserted = await run<MeterRow>(
        tx,
        `insert into metering_meters (id, slug, fingerprint, definition) values ($1, $2, $3, $4::jsonb)
         on conflict (slug) do nothing returning key, id, slug, created_at, updated_at`,
        [newId('mtr'), config.slug, fingerprint, JSON.stringify(config)],
      );
      if (inserted[0]) {
        if (!options.readOnly) {
          const meter = compileMeter(config, inserted[0]);
          const n = await rebuild(tx, meter, log);
          if (n > 0) log.info({ meter: config.slug, events: n }, 'new meter: counted the stored events');
        }
        return inserted[0];
      }
      const [existing] = await run<MeterRow & { fingerprint: string }>(
        tx,
        `select key, id, slug, fingerprint, created_at, updated_at, origin, deleted_at from metering_meters where slug = $1 for update`,
        [config.slug],
      );
      if (!existing) throw new Error(`meter ${config.slug} vanished during start-up`);
      // A meter the config declares is the config's, even if the API created (or deleted) it before.
      const adopted = existing.origin !== 'config' || existing.deleted_at;
      if ((existing.fingerprint === fingerprint && !adopted) || options.readOnly) return existing;
      const [updated] = await run<MeterRow>(
        tx,
        `update metering_meters set fingerprint = $2, definition = $3::jsonb, updated_at = now(),
           origin = 'config', deleted_at = null
         where slug = $1 returning key, id, slug, created_at, updated_at, origin, deleted_at`,
        [config.slug, fingerprint, JSON.stringify(config)],
      );
      const meter = compileMeter(config, updated as MeterRow);
      if (existing.fingerprint === fingerprint && !existing.deleted_at) return updated as MeterRow;
      const n = await rebuild(tx, meter, log);
      log.info({ meter: config.slug, events: n }, 'meter definition changed: rebuilt its values and rollups');
      return updated as MeterRow;
    });
    compiled.push(compileMeter(config, row));
  }
  return compiled;
}

export interface LiveMeterRegistry extends MeterRegistry {
  /**
   * Dev-mode reloads: creates, backfills and rebuilds meters of an edited config, then swaps them
   * in. Events ingested while a changed meter is rebuilt may still be valued by its old
   * definition (milliseconds, in development); `tollgate start` rebuilds at start-up only.
   */
  reload(meters: readonly MeterConfig[]): Promise<void>;
  /** Re-reads the API-created meters (after a change in this or another process). */
  refresh(): Promise<void>;
  /** Every meter, API meters deleted softly too when `includeDeleted`. */
  listAll(includeDeleted: boolean): readonly Meter[];
}

export async function openMeterRegistry(
  store: Store,
  meters: readonly MeterConfig[],
  log: Logger,
  options: { readOnly?: boolean } = {},
): Promise<LiveMeterRegistry> {
  let fromConfig: Meter[] = [];
  let fromApi: Meter[] = [];
  let compiled: Meter[] = [];
  let bySlug = new Map<string, Meter>();
  let byId = new Map<string, Meter>();
  let byType = new Map<string, Meter[]>();
  const use = () => {
    const slugs = new Set(fromConfig.map((m) => m.slug));
    compiled = [...fromConfig, ...fromApi.filter((m) => !m.deletedAt && !slugs.has(m.slug))];
    bySlug = new Map(compiled.map((m) => [m.slug, m]));
    byId = new Map(compiled.map((m) => [m.id, m]));
    byType = new Map();
    for (const m of compiled) byType.set(m.eventType, [...(byType.get(m.eventType) ?? []), m]);
  };
  fromConfig = await syncMeters(store, meters, log, options);
  fromApi = await loadApiMeters(store);
  use();
  return {
    list: () => compiled,
    listAll: (includeDeleted) =>
      includeDeleted ? [...compiled, ...fromApi.filter((m) => m.deletedAt)] : compiled,
    get: (idOrSlug) => bySlug.get(idOrSlug) ?? byId.get(idOrSlug),
    forType: (type) => byType.get(type) ?? [],
    async reload(next) {
      fromConfig = await syncMeters(store, next, log, options);
      fromApi = await loadApiMeters(store);
      use();
    },
    async refresh() {
      fromApi = await loadApiMeters(store);
      use();
    },
  };
}
