import { problems } from '../../http/problem.ts';
import { inTimeRange } from '../cloud-events.ts';
import type { StringFilter } from '../filters.ts';
import type { MeterQueryParams, MeterQueryResult, WindowSize } from '../query.ts';
import { MeterQueryRequestCheck } from './schemas.ts';

/**
 * Meter query parameters as OpenMeter's clients send them: the query string of
 * `GET /api/v1/meters/{meter}/query` and the JSON body of its POST form, mapped the way
 * OpenMeter maps them (openmeter/meter/httphandler/mapping.go, toQueryParamsFromRequest).
 */
const WINDOW_SIZES = ['MINUTE', 'HOUR', 'DAY', 'MONTH'] as const;

export function parseDate(name: string, value: string | undefined): Date | undefined {
  if (value === undefined || value === '') return undefined;
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) {
    throw problems.validation(`Invalid "${name}".`, [
      { path: name, message: 'must be an RFC 3339 date-time, e.g. 2026-01-01T00:00:00Z' },
    ]);
  }
  if (!inTimeRange(d.getTime())) {
    throw problems.validation(`"${name}" is out of range.`, [
      { path: name, message: 'must be between 1970-01-01 and 9999-12-31' },
    ]);
  }
  return d;
}

/**
 * What a query asks beyond the reader's parameters: customers to filter by (resolved later), and
 * `from`/`to` as sent (the reader counts whole seconds, see finish).
 */
export interface HttpMeterQuery {
  params: MeterQueryParams;
  filterCustomerId?: string[];
  from?: Date;
  to?: Date;
  /** The range holds no whole second: nothing is counted. */
  empty?: boolean;
}

/**
 * OpenMeter stores event times in whole seconds (a ClickHouse `DateTime`, event_query.go) and
 * compares them with `from.Unix()` and `to.Unix()` (meter_query.go, timeWhere): an event counts
 * when its second is in [from's second, to's second), which is the same as counting event times
 * from the start of from's second to the start of to's second.
 */
const wholeSecond = (d: Date | undefined) => (d ? new Date(Math.floor(d.getTime() / 1000) * 1000) : d);

function finish(
  meterSlug: string,
  q: {
    from?: Date;
    to?: Date;
    windowSize?: string;
    windowTimeZone?: string;
    subject?: string[];
    groupBy?: string[];
    filterGroupBy?: Record<string, string[]>;
    advanced?: Record<string, StringFilter>;
    filterCustomerId?: string[];
  },
): HttpMeterQuery {
  if (q.windowSize !== undefined && !(WINDOW_SIZES as readonly string[]).includes(q.windowSize)) {
    throw problems.validation(`Unsupported windowSize "${q.windowSize}".`, [
      { path: 'windowSize', message: 'must be MINUTE, HOUR, DAY or MONTH' },
    ]);
  }
  let groupBy = q.groupBy;
  // `subject` filters and groups: one row per subject (mapping.go, toQueryParamsFromRequest).
  if (q.subject && !groupBy?.includes('subject')) groupBy = [...(groupBy ?? []), 'subject'];
  // Simple filters are exact matches (one value) or lists ($in); OpenMeter refuses both kinds at once.
  const groupByFilters: Record<string, StringFilter> = { ...(q.advanced ?? {}) };
  const simple = Object.entries(q.filterGroupBy ?? {});
  if (simple.length > 0 && Object.keys(groupByFilters).length > 0) {
    throw problems.validation('Use filterGroupBy or advancedMeterGroupByFilters, not both.', [
      { path: 'filterGroupBy', message: 'cannot be combined with advancedMeterGroupByFilters' },
    ]);
  }
  for (const [k, values] of simple) {
    groupByFilters[k] = values.length === 1 ? { $eq: values[0] as string } : { $in: values };
  }
  if (q.from && q.to && q.from.getTime() >= q.to.getTime()) {
    throw problems.validation('"from" must be before "to".', [
      { path: 'from', message: 'must be before "to"' },
    ]);
  }
  let from = wholeSecond(q.from);
  let to = wholeSecond(q.to);
  // Both ends inside one second: OpenMeter's range [s, s) holds no event. The reader still checks
  // the rest of the query (with the range as sent); its rows are dropped.
  const empty = from !== undefined && to !== undefined && from.getTime() === to.getTime();
  if (empty) [from, to] = [q.from, q.to];
  return {
    from: q.from,
    to: q.to,
    empty,
    params: {
      meterSlug,
      from,
      to,
      windowSize: q.windowSize as WindowSize | undefined,
      windowTimeZone: q.windowTimeZone,
      subject: q.subject,
      groupBy,
      groupByFilters: Object.keys(groupByFilters).length ? groupByFilters : undefined,
    },
    filterCustomerId: q.filterCustomerId,
  };
}

/** Reads the query string: repeated `subject`/`groupBy`/`filterCustomerId`, deepObject `filterGroupBy[k]=v`. */
export function queryParamsFrom(url: URL, meterSlug: string): HttpMeterQuery {
  const q = url.searchParams;
  const filterGroupBy: Record<string, string[]> = {};
  for (const [key, value] of q) {
    const m = /^filterGroupBy\[([^\]]+)\]$/.exec(key);
    if (m?.[1]) filterGroupBy[m[1]] = [...(filterGroupBy[m[1]] ?? []), value];
  }
  const list = (name: string) =>
    q.has(name)
      ? q
          .getAll(name)
          .flatMap((v) => v.split(','))
          .map((v) => v.trim())
          .filter(Boolean)
      : undefined;
  return finish(meterSlug, {
    from: parseDate('from', q.get('from') ?? undefined),
    to: parseDate('to', q.get('to') ?? undefined),
    windowSize: q.get('windowSize') ?? undefined,
    windowTimeZone: q.get('windowTimeZone') ?? undefined,
    subject: list('subject'),
    groupBy: list('groupBy'),
    filterGroupBy,
    filterCustomerId: list('filterCustomerId'),
  });
}

export function queryParamsFromBody(body: unknown, meterSlug: string): HttpMeterQuery {
  const parsed = MeterQueryRequestCheck.safeParse(body);
  if (!parsed.success) {
    const errors = parsed.error.issues.map((i) => ({
      path: i.path.join('.') || '(body)',
      message: i.message,
    }));
    throw problems.validation(`Invalid meter query: ${errors[0]?.path}: ${errors[0]?.message}`, errors);
  }
  const b = parsed.data;
  return finish(meterSlug, {
    from: parseDate('from', b.from),
    to: parseDate('to', b.to),
    windowSize: b.windowSize,
    windowTimeZone: b.windowTimeZone,
    subject: b.subject,
    groupBy: b.groupBy,
    filterGroupBy: b.filterGroupBy,
    advanced: b.advancedMeterGroupByFilters,
    filterCustomerId: b.filterCustomerId,
  });
}

const csvField = (value: string) => (/[",\r\n]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value);
/** Go's time.RFC3339 (no fractional seconds), as OpenMeter writes window times in CSV. */
const rfc3339 = (iso: string) => iso.replace(/\.\d{3}Z$/, 'Z');

/**
 * A result as OpenMeter's `text/csv` answer (openmeter/meter/httphandler/query_csv.go):
 * window_start, window_end, subject (when grouped by it), the other group-by keys in query order
 * (`customer_id` among them, where filterCustomerId put it: after the requested keys), then value
 * with six decimals (Go's "%f"); subject_display_name after subject when some of the rows'
 * subjects exist as subjects (empty for the others). OpenMeter writes the customer_id column empty (it looks the key
 * up in the row's groupBy, which never holds it); here it holds the row's customer.
 */
export function resultCsv(
  result: MeterQueryResult,
  groupBy: readonly string[],
  subjectNames?: ReadonlyMap<string, string | null>,
): string {
  const bySubject = groupBy.includes('subject');
  // subject_display_name follows subject when any of the rows' subjects exists as a subject.
  const named = bySubject && subjectNames !== undefined && subjectNames.size > 0;
  const keys = groupBy.filter((k) => k !== 'subject');
  const header = [
    'window_start',
    'window_end',
    ...(bySubject ? ['subject'] : []),
    ...(named ? ['subject_display_name'] : []),
    ...keys,
    'value',
  ];
  const lines = [header.join(',')];
  for (const row of result.data) {
    lines.push(
      [
        rfc3339(row.windowStart),
        rfc3339(row.windowEnd),
        ...(bySubject ? [row.subject ?? ''] : []),
        ...(named ? [(row.subject !== null && subjectNames?.get(row.subject)) || ''] : []),
        ...keys.map((k) => (k === 'customer_id' ? (row.customerId ?? '') : (row.groupBy[k] ?? ''))),
        row.value.toFixed(6),
      ]
        .map(csvField)
        .join(','),
    );
  }
  return `${lines.join('\n')}\n`;
}
