import type { MeterConfig } from '../config/index.ts';
import { meterSchema } from '../config/schema.ts';
import { problems } from '../http/problem.ts';
import type { ChangeFeed, Store } from '../store/index.ts';
import { newId } from '../util/ids.ts';
import type { Logger } from '../util/log.ts';
import type { LiveMeterRegistry } from './meters.ts';
import { rebuild } from './meters.ts';
import { compileMeter, type Meter, type MeterRow, meterFingerprint } from './model.ts';
import { deleteMeterData, run } from './repo.ts';

/**
 * Meters created, changed and deleted through OpenMeter's API (`POST/PUT/DELETE /api/v1/meters`).
 * They live next to the config's meters in `metering_meters` (origin 'api'); the config's meters
 * are changed by editing tollgate.config.ts, so the API refuses to change or delete them (409).
 * A new meter counts the events already stored (as a new config meter does); a meter whose
 * group-by changes is rebuilt; a deleted one keeps its slug and drops its values. Other processes
 * learn of a change through the change feed (topic `meters`).
 */
export interface MeterAdmin {
  create(input: unknown): Promise<Meter>;
  update(idOrSlug: string, input: unknown): Promise<Meter>;
  remove(idOrSlug: string): Promise<void>;
}

const ROW = 'key, id, slug, created_at, updated_at, origin, deleted_at';

function invalid(error: { issues: { path: PropertyKey[]; message: string }[] }) {
  const errors = error.issues.map((i) => ({
    path: i.path.map(String).join('.') || '(body)',
    message: i.message,
  }));
  return problems.validation(`Invalid meter: ${errors[0]?.path}: ${errors[0]?.message}`, errors);
}

/** OpenMeter's MeterCreate, as a Tollgate meter definition (`eventFrom`/`metadata` are not kept). */
function definitionFrom(input: unknown): MeterConfig {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    throw problems.validation('Invalid meter.', [{ path: '(body)', message: 'must be a JSON object' }]);
  }
  const {
    eventFrom: _from,
    metadata: _metadata,
    dimensions: _dimensions,
    ...rest
  } = input as Record<string, unknown>;
  const parsed = meterSchema.safeParse(rest);
  if (!parsed.success) throw invalid(parsed.error);
  const def = parsed.data;
  if (def.aggregation !== 'COUNT' && !def.valueProperty) {
    throw problems.validation('Invalid meter.', [
      { path: 'valueProperty', message: `aggregation ${def.aggregation} needs a valueProperty` },
    ]);
  }
  if ('subject' in def.groupBy || 'customer_id' in def.groupBy) {
    throw problems.validation('Invalid meter.', [
      { path: 'groupBy', message: '"subject" and "customer_id" are reserved group-by keys' },
    ]);
  }
  // A meter made through OpenMeter's API behaves as OpenMeter's do: negative values count
  // (its query sums whatever `toFloat64OrNull` reads, openmeter/streaming/clickhouse/meter_query.go).
  // Config meters bill customers and skip them unless they declare `allowNegative`.
  return { ...def, allowNegative: def.allowNegative ?? true };
}

export function createMeterAdmin(deps: {
  store: Store;
  meters: LiveMeterRegistry;
  log: Logger;
  changes?: ChangeFeed;
}): MeterAdmin {
  const { store, meters, log } = deps;
  const changed = async (id: string) => {
    await meters.refresh();
    await deps.changes?.publish({ topic: 'meters', id });
  };
  const apiMeter = (idOrSlug: string): Meter => {
    const meter = meters.get(idOrSlug);
    if (!meter) throw problems.notFound(`No meter "${idOrSlug}".`);
    if (meter.origin === 'config') {
      throw problems.conflict(`Meter "${meter.slug}" is declared in tollgate.config.ts: change it there.`, {
        meter: meter.slug,
      });
    }
    return meter;
  };
  return {
    async create(input) {
      const def = definitionFrom(input);
      const row = await store.transaction(async (tx) => {
        const [inserted] = await run<MeterRow>(
          tx,
          `insert into metering_meters (id, slug, fingerprint, definition, origin)
           values ($1, $2, $3, $4::jsonb, 'api') on conflict (slug) do nothing returning ${ROW}`,
          [newId('mtr'), def.slug, meterFingerprint(def), JSON.stringify(def)],
        );
        if (!inserted)
          throw problems.conflict(`A meter with slug "${def.slug}" exists (or existed).`, { slug: def.slug });
        await rebuild(tx, compileMeter(def, inserted), log);
        return inserted;
      });
      await changed(row.id);
      return meters.get(row.id) as Meter;
    },
    async update(idOrSlug, input) {
      const meter = apiMeter(idOrSlug);
      const patch = input !== null && typeof input === 'object' ? (input as Record<string, unknown>) : {};
      const def = definitionFrom({
        slug: meter.slug,
        eventType: meter.eventType,
        aggregation: meter.aggregation,
        valueProperty: meter.valueProperty,
        allowNegative: meter.allowNegative || undefined,
        strict: meter.strict || undefined,
        name: patch.name ?? meter.name,
        description: patch.description ?? meter.description,
        groupBy: patch.groupBy ?? meter.groupBy,
      });
      await store.transaction(async (tx) => {
        const [row] = await run<MeterRow & { fingerprint: string }>(
          tx,
          `select ${ROW}, fingerprint from metering_meters where key = $1 for update`,
          [meter.key],
        );
        const fingerprint = meterFingerprint(def);
        const [updated] = await run<MeterRow>(
          tx,
          `update metering_meters set definition = $2::jsonb, fingerprint = $3, updated_at = now()
           where key = $1 returning ${ROW}`,
          [meter.key, JSON.stringify(def), fingerprint],
        );
        if (row?.fingerprint !== fingerprint) await rebuild(tx, compileMeter(def, updated as MeterRow), log);
      });
      await changed(meter.id);
      return meters.get(meter.id) as Meter;
    },
    async remove(idOrSlug) {
      const meter = apiMeter(idOrSlug);
      await store.transaction(async (tx) => {
        await run(tx, 'update metering_meters set deleted_at = now(), updated_at = now() where key = $1', [
          meter.key,
        ]);
        await deleteMeterData(tx, meter.key);
      });
      await changed(meter.id);
    },
  };
}
