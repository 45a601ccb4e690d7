import { problems } from '../http/problem.ts';
import type { Store } from '../store/index.ts';
import type { Clock } from '../util/clock.ts';
import { filterSql } from './filters.ts';
import type { MeterRegistry } from './meters.ts';
import type { Meter } from './model.ts';
import type {
  GroupByValuesParams,
  MeterQueryParams,
  MeterQueryResult,
  MeterQueryRow,
  MeterReader,
  WindowSize,
} from './query.ts';
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

const UNIT: Record<WindowSize, string> = { MINUTE: 'minute', HOUR: 'hour', DAY: 'day', MONTH: 'month' };

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
      const filters: string[] = [];
      if (params.subject && params.subject.length > 0)
        filters.push(`subject = any(${p(params.subject)}::text[])`);
      for (const [k, v] of Object.entries(params.filterGroupBy ?? {})) {
        filters.push(`dims->>'${k}' = ${p(String(v))}`);
      }
      // Dimension names were checked against the meter's group-by (identifiers), values are parameters.
      for (const [k, f] of Object.entries(params.groupByFilters ?? {})) {
        filters.push(filterSql(`dims->>'${k}'`, f, p));
      }
      const tz = params.windowSize ? `${p(timeZone)}::text` : '';
      const windowOf = (col: string) =>
        params.windowSize ? `date_trunc('${UNIT[params.windowSize]}', ${col}, ${tz})` : 'null::timestamptz';
      const range = (col: string, seg: { from: Date | null; to: Date | null }) => {
        const parts = [...filters];
        if (seg.from) parts.push(`${col} >= ${p(seg.from.toISOString())}::timestamptz`);
        if (seg.to) parts.push(`${col} < ${p(seg.to.toISOString())}::timestamptz`);
        return parts.length ? ` and ${parts.join(' and ')}` : '';
      };
      // Raw meter values of [from, to): only the chunks whose time range overlaps it are unpacked.
      const valuesOf = (seg: { from: Date | null; to: Date | null }) => {
        const overlap = [
          ...(seg.from ? [`c.max_time >= ${p(seg.from.toISOString())}::timestamptz`] : []),
          ...(seg.to ? [`c.min_time < ${p(seg.to.toISOString())}::timestamptz`] : []),
        ];
        return `(select x.* from usage_value_chunks c
                 cross join lateral json_to_recordset(c.vals::json)
                   as x(time timestamptz, subject text, value numeric, value_text text, dims jsonb)
                 where c.meter = $1${overlap.map((o) => ` and ${o}`).join('')}) raw`;
      };
      const dimCols = groupBy.filter((g) => g !== 'subject' && g !== 'customer_id');
      const bySubject = groupBy.includes('subject');
      // customer_id: the customer that owns the subject key (OpenMeter's usageAttribution).
      const byCustomer = groupBy.includes('customer_id');
      const customerExpr = byCustomer
        ? `(${p(JSON.stringify(params.customerOf ?? {}))}::jsonb->>subject) as cid`
        : '';
      const keyCols = [
        'ws',
        ...(bySubject ? ['subject'] : []),
        ...(byCustomer ? [customerExpr] : []),
        ...dimCols.map((d, i) => `dims->>'${d}' as g${i}`),
      ];
      const groupCols = [
        'ws',
        ...(bySubject ? ['subject'] : []),
        ...(byCustomer ? ['cid'] : []),
        ...dimCols.map((_, i) => `g${i}`),
      ];

      let inner: string;
      if (meter.aggregation === 'UNIQUE_COUNT') {
        inner = `
          select ${keyCols.join(', ')}, count(distinct value_text)::text as value
          from (select ${windowOf('time')} as ws, subject, dims, value_text from ${valuesOf({ from, to })}
                where value_text is not null${range('time', { from, to })}) v
          group by ${groupCols.map((_, i) => i + 1).join(', ')}`;
      } else {
        // Rollup rows are first summed per bucket (and requested keys), then mapped to windows:
        // the time-zone arithmetic runs on a few hundred bucket rows, not on every rollup row.
        const keyExprs = [
          ...(bySubject ? ['subject'] : []),
          ...(byCustomer ? [customerExpr] : []),
          ...dimCols.map((d, i) => `dims->>'${d}' as g${i}`),
        ];
        const keyNames = groupCols.slice(1);
        const keyPositions = keyNames.map((_, i) => `, ${i + 2}`).join('');
        const needs = partialsFor(meter);
        const partial = (expr: string, needed: boolean, type: string) => (needed ? expr : `null::${type}`);
        const sources = planSegments(from, to, levels).map((seg) => {
          if (seg.source === 'raw') {
            return `select time as t${keyExprs.map((k) => `, ${k}`).join('')}, value as sum, 1::bigint as count,
                      value as min, value as max, time as latest_time, value as latest_value
                    from ${valuesOf(seg)} where value is not null${range('time', seg)}`;
          }
          // Without a subject filter or split, the all-subjects hour rollup holds the same sums in
          // far fewer rows (what day windows in a time zone such as Europe/Berlin read).
          const perSubject = bySubject || byCustomer || (params.subject?.length ?? 0) > 0;
          const table = `usage_rollups_${seg.source}${seg.source === 'hour' && !perSubject ? '_all' : ''}`;
          return `select bucket as t${keyExprs.map((k) => `, ${k}`).join('')},
                    ${partial('sum(sum)', needs.sum, 'numeric')} as sum,
                    ${partial('sum(count)', needs.count, 'numeric')}::bigint as count,
                    ${partial('min(min)', needs.min, 'numeric')} as min,
                    ${partial('max(max)', needs.max, 'numeric')} as max,
                    ${partial('max(latest_time)', needs.latest, 'timestamptz')} as latest_time,
                    ${partial('(array_agg(latest_value order by latest_time desc))[1]', needs.latest, 'numeric')} as latest_value
                  from ${table} where meter = $1${range('bucket', seg)}
                  group by 1${keyPositions}`;
        });
        const value = valueExpression(meter);
        inner = `
          select ${windowOf('t')} as ws${keyNames.map((k) => `, ${k}`).join('')}, ${value} as value
          from (${sources.join('\n union all \n')}) u
          group by ${groupCols.map((_, i) => i + 1).join(', ')}`;
      }
      const windowEnd = params.windowSize
        ? `((q.ws at time zone ${tz}) + interval '1 ${UNIT[params.windowSize]}') at time zone ${tz}`
        : 'null::timestamptz';
      const text = `select q.*, ${windowEnd} as we from (${inner}) q order by ${groupCols.map((c) => `q.${c.replace(/^.* as /, '')}`).join(', ')}`;
      const rows = await store.query<Record<string, unknown>>(text, sqlParams);

      let wholeFrom = from;
      if (!params.windowSize && !wholeFrom && rows.length > 0) {
        const [first] = await store.query<{ t: Date | null }>(
          'select min(min_time) as t from usage_value_chunks where meter = $1',
          [meter.key],
        );
        wholeFrom = first?.t ? new Date(first.t) : null;
      }
      const now = clock.now();
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
          windowStart = wholeFrom ?? now;
          windowEnd = to ?? (now > windowStart ? now : windowStart);
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
    },
  };
}

/** Which partial aggregates a meter's value needs (the others are not computed). */
function partialsFor(meter: Meter): {
  sum: boolean;
  count: boolean;
  min: boolean;
  max: boolean;
  latest: boolean;
} {
  const a = meter.aggregation;
  return {
    sum: a === 'SUM' || a === 'AVG',
    count: a === 'COUNT' || a === 'AVG',
    min: a === 'MIN',
    max: a === 'MAX',
    latest: a === 'LATEST',
  };
}

function valueExpression(meter: Meter): string {
  switch (meter.aggregation) {
    case 'SUM':
      return 'sum(sum)::text';
    case 'COUNT':
      return 'sum(count)::text';
    case 'AVG':
      return '(sum(sum) / nullif(sum(count), 0))::text';
    case 'MIN':
      return 'min(min)::text';
    case 'MAX':
      return 'max(max)::text';
    case 'LATEST':
      return '((array_agg(latest_value order by latest_time desc))[1])::text';
    default:
      throw new Error(`no rollup expression for ${meter.aggregation}`);
  }
}
