import { filterSql } from './filters.ts';
import type { Meter } from './model.ts';
import type { MeterQueryParams, WindowSize } from './query.ts';

/**
 * The SQL text of one meter query (see reader.ts for how the range is cut into rollup pieces).
 * Placeholders are added through `p` in the order the text is built, so the parameter list and
 * the text stay in step.
 */
export const UNIT: Record<WindowSize, string> = {
  MINUTE: 'minute',
  HOUR: 'hour',
  DAY: 'day',
  MONTH: 'month',
};

type Range = { from: Date | null; to: Date | null };
type Piece = Range & { source: 'day' | 'hour' | 'minute' | 'raw' };

/** A query resolved and checked by the reader: the meter, the zone and the rollup pieces to read. */
export interface ResolvedQuery {
  meter: Meter;
  timeZone: string;
  from: Date | null;
  to: Date | null;
  groupBy: string[];
  segments: Piece[];
}

/** What the rows of the query hold besides the value: which keys they were grouped by. */
export interface QueryShape {
  dimCols: string[];
  bySubject: boolean;
  byCustomer: boolean;
}

/** The pieces of SQL shared by the raw-value and rollup forms of a query. */
interface SqlParts extends QueryShape {
  customerExpr: string;
  groupCols: string[];
  windowOf: (col: string) => string;
  range: (col: string, seg: Range) => string;
  valuesOf: (seg: Range) => string;
}

/**
 * The SQL of a meter query, or with `bounds` of its groups' first and last minutes (see
 * boundsSql).
 */
export function meterQuerySql(
  resolved: ResolvedQuery,
  params: MeterQueryParams,
  p: (v: unknown) => string,
  bounds = false,
): QueryShape & { text: string } {
  const { meter, timeZone, groupBy } = resolved;
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
  const range = (col: string, seg: Range) => {
    const parts = [...filters];
    if (seg.from) parts.push(`${col} >= ${p(seg.from.toISOString())}::timestamptz`);
    if (seg.to) parts.push(`${col} < ${p(seg.to.toISOString())}::timestamptz`);
    return parts.length ? ` and ${parts.join(' and ')}` : '';
  };
  // Raw meter values of [from, to): only the chunks whose time range overlaps it are unpacked.
  const valuesOf = (seg: Range) => {
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
  const groupCols = [
    'ws',
    ...(bySubject ? ['subject'] : []),
    ...(byCustomer ? ['cid'] : []),
    ...dimCols.map((_, i) => `g${i}`),
  ];
  const parts: SqlParts = {
    dimCols,
    bySubject,
    byCustomer,
    customerExpr,
    groupCols,
    windowOf,
    range,
    valuesOf,
  };
  if (bounds) return { text: boundsSql(resolved, parts), dimCols, bySubject, byCustomer };
  const inner =
    meter.aggregation === 'UNIQUE_COUNT'
      ? uniqueCountSql(resolved, parts)
      : rollupSql(resolved, params, parts);
  const windowEnd = !params.windowSize
    ? 'null::timestamptz'
    : params.windowSize === 'MINUTE' || params.windowSize === 'HOUR'
      ? // A minute or an hour of elapsed time, as ClickHouse's tumbleEnd: local arithmetic would
        // end 02:00 CEST on the night clocks go back at 03:00 CET, an hour later than tumbleEnd.
        `q.ws + interval '1 ${UNIT[params.windowSize]}'`
      : // The next local midnight (23 or 25 hours on DST days), as `windowstart + toIntervalDay(1)`
        // and tumbleEnd(…, toIntervalMonth(1), tz) in openmeter/streaming/clickhouse/meter_query.go.
        `((q.ws at time zone ${tz}) + interval '1 ${UNIT[params.windowSize]}') at time zone ${tz}`;
  const text = `select q.*, ${windowEnd} as we from (${inner}) q order by ${groupCols.map((c) => `q.${c.replace(/^.* as /, '')}`).join(', ')}`;
  return { text, dimCols, bySubject, byCustomer };
}

/**
 * Per group (subject, customer, group-by values), the first and the last minute that holds a value
 * in the range: without windowSize OpenMeter's row spans `tumbleStart(min(time), toIntervalMinute(1))`
 * to `tumbleEnd(max(time), toIntervalMinute(1))` of its group where `from`/`to` are not given
 * (openmeter/streaming/clickhouse/meter_query.go, toSQL; connector.go, QueryMeter). Read from the
 * minute rollups (raw values for UNIQUE_COUNT, which has none); columns `first` and `last`.
 */
function boundsSql(resolved: ResolvedQuery, parts: SqlParts): string {
  const { meter, from, to } = resolved;
  const { bySubject, byCustomer, customerExpr, dimCols, range, valuesOf } = parts;
  const keyExprs = [
    ...(bySubject ? ['subject'] : []),
    ...(byCustomer ? [customerExpr] : []),
    ...dimCols.map((d, i) => `dims->>'${d}' as g${i}`),
  ];
  const keys = keyExprs.map((k) => `${k}, `).join('');
  const groupBy = keyExprs.length ? ` group by ${keyExprs.map((_, i) => i + 1).join(', ')}` : '';
  if (meter.aggregation === 'UNIQUE_COUNT') {
    return `select ${keys}min(time) as first, max(time) as last from ${valuesOf({ from, to })}
            where value_text is not null${range('time', { from, to })}${groupBy}`;
  }
  // The minute that holds `from` is read whole: `first` is not used when `from` is given, and
  // `last` of a group with values in the range is that minute or a later one.
  const fromMinute = from ? new Date(Math.floor(from.getTime() / 60_000) * 60_000) : null;
  return `select ${keys}min(bucket) as first, max(bucket) as last from usage_rollups_minute
          where meter = $1${range('bucket', { from: fromMinute, to })}${groupBy}`;
}

/** Distinct counts cannot be added up across buckets: they read the raw values of the whole range. */
function uniqueCountSql(resolved: ResolvedQuery, parts: SqlParts): string {
  const { from, to } = resolved;
  const { bySubject, byCustomer, customerExpr, dimCols, groupCols, windowOf, range, valuesOf } = parts;
  const keyCols = [
    'ws',
    ...(bySubject ? ['subject'] : []),
    ...(byCustomer ? [customerExpr] : []),
    ...dimCols.map((d, i) => `dims->>'${d}' as g${i}`),
  ];
  return `
          select ${keyCols.join(', ')}, count(distinct value_text)::text as value
          from (select ${windowOf('time')} as ws, subject, dims, value_text from ${valuesOf({ from, to })}
                where value_text is not null${range('time', { from, to })}) v
          group by ${groupCols.map((_, i) => i + 1).join(', ')}`;
}

/**
 * Rollup rows are first summed per bucket (and requested keys), then mapped to windows:
 * the time-zone arithmetic runs on a few hundred bucket rows, not on every rollup row.
 */
function rollupSql(resolved: ResolvedQuery, params: MeterQueryParams, parts: SqlParts): string {
  const { meter, segments } = resolved;
  const { bySubject, byCustomer, customerExpr, dimCols, groupCols, windowOf, range, valuesOf } = parts;
  const keyExprs = [
    ...(bySubject ? ['subject'] : []),
    ...(byCustomer ? [customerExpr] : []),
    ...dimCols.map((d, i) => `dims->>'${d}' as g${i}`),
  ];
  const keyNames = groupCols.slice(1);
  const keyPositions = keyNames.map((_, i) => `, ${i + 2}`).join('');
  const needs = partialsFor(meter);
  const partial = (expr: string, needed: boolean, type: string) => (needed ? expr : `null::${type}`);
  const sources = segments.map((seg) => {
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
  return `
          select ${windowOf('t')} as ws${keyNames.map((k) => `, ${k}`).join('')}, ${value} as value
          from (${sources.join('\n union all \n')}) u
          group by ${groupCols.map((_, i) => i + 1).join(', ')}`;
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
