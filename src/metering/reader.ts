import { problems } from '../http/problem.ts';
import type { Store } from '../store/index.ts';
import type { Clock } from '../util/clock.ts';
import { filterSql } from './filters.ts';
import type { MeterRegistry } from './meters.ts';
import type {
  GroupByValuesParams,
  MeterQueryParams,
  MeterQueryResult,
  MeterQueryRow,
  MeterReader,
} from './query.ts';
import { meterQuerySql, type QueryShape, UNIT } from './query-sql.ts';
import { validTimeZone, zoneAligned } from './time-zones.ts';

/**
 * Meter queries over rollups. The range [from, to) is cut into the coarsest pieces that fit:
 * whole UTC days from the day rollup, whole hours around them from the hour rollup, whole minutes
 * from the minute rollup, and the unaligned seconds at the edges from the raw meter values, so the answer is exact and a query
 * over months of data reads a few thousand rollup rows instead of millions of events.
 *
 * A rollup bucket can only be used when it lies inside one window: minute windows use minute
 * rollups; hour and day windows use hour rollups when the time zone's offset is a whole number of
 * hours (else minute rollups, e.g. Asia/Kolkata); day rollups serve queries without windows and
 * UTC day windows (a day in Europe/Berlin is read from hour rollups).
 *
 * Raw meter values are stored in chunks of up to 1,000 per meter with their time range (see
 * repo.ts); a raw piece unpacks only the chunks that overlap it. UNIQUE_COUNT meters read raw
 * values over the whole range (distinct counts cannot be added up across buckets), so their cost
 * grows with the number of events.
 */
const HOUR = 3_600_000;
const MINUTE = 60_000;

export type RollupLevel = 'day' | 'hour' | 'minute';

interface Segment {
  source: RollupLevel | 'raw';
  from: Date | null;
  to: Date | null;
}

const DAY = 86_400_000;
const LEVEL_MS: Record<RollupLevel, number> = { day: DAY, hour: HOUR, minute: MINUTE };
const ceilTo = (d: Date, unit: number) => new Date(Math.ceil(d.getTime() / unit) * unit);
const floorTo = (d: Date, unit: number) => new Date(Math.floor(d.getTime() / unit) * unit);
const before = (a: Date | null, b: Date | null) => a === null || b === null || a.getTime() < b.getTime();

/**
 * Splits [from, to) into pieces read from the coarsest usable rollup (levels, coarsest first),
 * finer rollups around it, and raw values at the unaligned edges. Exported for tests.
 */
export function planSegments(from: Date | null, to: Date | null, levels: readonly RollupLevel[]): Segment[] {
  const out: Segment[] = [];
  const plan = (a: Date | null, b: Date | null, rest: readonly RollupLevel[]) => {
    const level = rest[0];
    if (!level) {
      out.push({ source: 'raw', from: a, to: b });
      return;
    }
    const unit = LEVEL_MS[level];
    const s = a ? ceilTo(a, unit) : null;
    const e = b ? floorTo(b, unit) : null;
    if (!before(s, e)) {
      plan(a, b, rest.slice(1));
      return;
    }
    if (a && s && a.getTime() < s.getTime()) plan(a, s, rest.slice(1));
    out.push({ source: level, from: s, to: e });
    if (b && e && e.getTime() < b.getTime()) plan(e, b, rest.slice(1));
  };
  plan(from, to, levels);
  return out;
}

export function createMeterReader(deps: {
  store: Store;
  meters: MeterRegistry;
  clock: Clock;
}): MeterReader & {
  explain(params: MeterQueryParams): Segment[];
  groupByValues(params: GroupByValuesParams): Promise<string[]>;
} {
  const { store, meters, clock } = deps;

  const resolve = (params: MeterQueryParams) => {
    const meter = meters.get(params.meterSlug);
    if (!meter) throw problems.notFound(`No meter "${params.meterSlug}".`);
    const timeZone = params.windowTimeZone ?? 'UTC';
    if (!validTimeZone(timeZone)) {
      throw problems.validation(`Unknown time zone "${timeZone}".`, [
        { path: 'windowTimeZone', message: 'must be an IANA time zone such as "Europe/Berlin"' },
      ]);
    }
    if (params.windowSize && !(params.windowSize in UNIT)) {
      throw problems.validation(`Unsupported windowSize "${params.windowSize}".`, [
        { path: 'windowSize', message: 'must be MINUTE, HOUR, DAY or MONTH' },
      ]);
    }
    const from = params.from ?? null;
    const to = params.to ?? null;
    for (const [name, d] of [
      ['from', from],
      ['to', to],
    ] as const) {
      if (d && Number.isNaN(d.getTime())) {
        throw problems.validation(`Invalid ${name}.`, [
          { path: name, message: 'must be an RFC 3339 date-time' },
        ]);
      }
    }
    if (from && to && from.getTime() >= to.getTime()) {
      throw problems.validation('"from" must be before "to".', [
        { path: 'from', message: 'must be before "to"' },
      ]);
    }
    const dims = Object.keys(meter.groupBy);
    const groupBy = [...new Set(params.groupBy ?? [])];
    for (const g of groupBy) {
      if (g === 'customer_id' && params.customerOf) continue;
      if (g !== 'subject' && !dims.includes(g)) {
        throw problems.validation(`Meter "${meter.slug}" cannot be grouped by "${g}".`, [
          { path: 'groupBy', message: `must be "subject" or one of: ${dims.join(', ') || '(none)'}` },
        ]);
      }
    }
    for (const k of [
      ...Object.keys(params.filterGroupBy ?? {}),
      ...Object.keys(params.groupByFilters ?? {}),
    ]) {
      if (!dims.includes(k)) {
        throw problems.validation(`Meter "${meter.slug}" has no group-by "${k}".`, [
          { path: `filterGroupBy[${k}]`, message: `must be one of: ${dims.join(', ') || '(none)'}` },
        ]);
      }
    }
    const now = clock.now();
    const levels: RollupLevel[] = ['minute'];
    if (!params.windowSize || (params.windowSize !== 'MINUTE' && zoneAligned(timeZone, 60, from, to, now))) {
      levels.unshift('hour');
      const daily = params.windowSize === 'DAY' || params.windowSize === 'MONTH';
      if (!params.windowSize || (daily && zoneAligned(timeZone, 1440, from, to, now))) {
        levels.unshift('day');
      }
    }
    return { meter, timeZone, from, to, groupBy, levels };
  };

  return {
    async groupByValues(params) {
      const meter = meters.get(params.meterSlug);
      if (!meter) throw problems.notFound(`No meter "${params.meterSlug}".`);
      if (!(params.groupByKey in meter.groupBy)) {
        throw problems.notFound(`Meter "${meter.slug}" has no group-by "${params.groupByKey}".`);
      }
      const sqlParams: unknown[] = [meter.key, params.groupByKey];
      const p = (v: unknown) => {
        sqlParams.push(v);
        return `$${sqlParams.length}`;
      };
      const where: string[] = [];
      if (params.from) {
        where.push(`c.max_time >= ${p(params.from.toISOString())}::timestamptz`);
        where.push(`x.time >= ${p(params.from.toISOString())}::timestamptz`);
      }
      if (params.to) {
        where.push(`c.min_time < ${p(params.to.toISOString())}::timestamptz`);
        where.push(`x.time < ${p(params.to.toISOString())}::timestamptz`);
      }
      if (params.search) where.push(filterSql('x.dims->>$2', { $contains: params.search }, p));
      const rows = await store.query<{ v: string }>(
        `select distinct x.dims->>$2 as v from usage_value_chunks c
         cross join lateral json_to_recordset(c.vals::json) as x(time timestamptz, dims jsonb)
         where c.meter = $1 and x.dims ? $2${where.map((w) => ` and ${w}`).join('')}
         order by 1 limit 10000`,
        sqlParams,
      );
      return rows.map((r) => r.v);
    },
    explain(params) {
      const r = resolve(params);
      return planSegments(r.from, r.to, r.levels);
    },
    async query(params) {
      const { meter, timeZone, from, to, groupBy, levels } = resolve(params);
      const sqlParams: unknown[] = [meter.key];
      const p = (v: unknown) => {
        sqlParams.push(v);
        return `$${sqlParams.length}`;
      };
      const segments = planSegments(from, to, levels);
      const { text, ...shape } = meterQuerySql({ meter, timeZone, from, to, groupBy, segments }, params, p);
      const rows = await store.query<Record<string, unknown>>(text, sqlParams);

      let bounds: Map<string, Bounds> | undefined;
      if (!params.windowSize && (!from || !to) && rows.length > 0) {
        const boundsParams: unknown[] = [meter.key];
        const q = (v: unknown) => {
          boundsParams.push(v);
          return `$${boundsParams.length}`;
        };
        const resolved = { meter, timeZone, from, to, groupBy, segments };
        const sql = meterQuerySql(resolved, params, q, true);
        const found = await store.query<Record<string, unknown>>(sql.text, boundsParams);
        bounds = new Map(
          found.map((b) => [
            groupKey(b, shape),
            { first: new Date(b.first as Date), last: new Date(b.last as Date) },
          ]),
        );
      }
      return toQueryResult(rows, params, shape, { from, to, bounds, now: clock.now() });
    },
  };
}

/** The first and last minute with a value of one group (query-sql.ts, boundsSql). */
interface Bounds {
  first: Date;
  last: Date;
}

/** A row's group: its subject, customer and group-by values. */
const groupKey = (row: Record<string, unknown>, shape: QueryShape) =>
  JSON.stringify([
    shape.bySubject ? row.subject : null,
    shape.byCustomer ? (row.cid ?? null) : null,
    ...shape.dimCols.map((_, i) => row[`g${i}`] ?? null),
  ]);

const floorMinute = (d: Date) => new Date(Math.floor(d.getTime() / 60_000) * 60_000);

/**
 * Query rows as OpenMeter returns them. Without windowSize a row spans `from` to `to`, and where
 * they are not given its group's first minute to the end of its last minute (as OpenMeter's
 * tumbleStart(min(time)) and tumbleEnd(max(time)) per group, meter_query.go and connector.go).
 */
function toQueryResult(
  rows: Record<string, unknown>[],
  params: MeterQueryParams,
  shape: QueryShape,
  range: { from: Date | null; to: Date | null; bounds?: Map<string, Bounds>; now: Date },
): MeterQueryResult {
  const { from, to, bounds, now } = range;
  const { dimCols, bySubject, byCustomer } = shape;
  const data: MeterQueryRow[] = [];
  for (const row of rows) {
    if (row.value === null || row.value === undefined) continue;
    let windowStart: Date;
    let windowEnd: Date;
    if (params.windowSize) {
      // Whole windows in the time zone, as OpenMeter returns them (tumbleStart/tumbleEnd in
      // openmeter/streaming/clickhouse/meter_query.go): a DAY row starts at midnight even
      // when the range starts at 22:00; only the events counted are limited to [from, to).
      windowStart = new Date(row.ws as Date);
      windowEnd = new Date(row.we as Date);
    } else {
      const b = bounds?.get(groupKey(row, shape));
      windowStart = from ?? (b ? floorMinute(b.first) : now);
      windowEnd = to ?? (b ? new Date(floorMinute(b.last).getTime() + 60_000) : now);
    }
    const groupValues: Record<string, string | null> = {};
    dimCols.forEach((d, i) => {
      groupValues[d] = (row[`g${i}`] as string | null) ?? null;
    });
    data.push({
      value: Number(row.value),
      windowStart: windowStart.toISOString(),
      windowEnd: windowEnd.toISOString(),
      subject: bySubject ? (row.subject as string) : null,
      ...(byCustomer && row.cid ? { customerId: row.cid as string } : {}),
      groupBy: groupValues,
    });
  }
  const result: MeterQueryResult = { data };
  if (from) result.from = from.toISOString();
  if (to) result.to = to.toISOString();
  if (params.windowSize) result.windowSize = params.windowSize;
  return result;
}
