import { Decimal } from 'decimal.js';
import type { ValueRow } from './model.ts';

/**
 * A batch's deltas to the minute, hour, UTC day and all-subjects hour rollups, summed here so
 * each rollup row is touched once per batch (repo.ts sends them with the batch).
 */
export interface RollupDelta {
  meter: number;
  bucket: string;
  subject: string;
  dims: Record<string, string>;
  sum: string;
  count: number;
  min: string;
  max: string;
  latest_time: string;
  latest_value: string;
}

interface Accumulator {
  row: RollupDelta;
  /** Exact while every value is an integer and the sum stays a safe integer; else Decimal. */
  intSum: number | null;
  decSum: Decimal | null;
  minN: number;
  maxN: number;
  latestMs: number;
}

const INTEGER = /^-?\d+$/;

/**
 * The batch's contribution to each minute, hour and UTC day bucket per subject, and to each hour
 * bucket over all subjects (subject `*`, see reader.ts), computed here rather than in SQL
 * (grouping in the embedded database costs more than the whole insert). Sums are exact: integers
 * add as numbers while they stay safe, anything else through Decimal.
 */
export function rollupDeltas(values: readonly ValueRow[]): {
  minute: RollupDelta[];
  hour: RollupDelta[];
  day: RollupDelta[];
  hourAll: RollupDelta[];
} {
  const minute = new Map<string, Accumulator>();
  const hour = new Map<string, Accumulator>();
  const day = new Map<string, Accumulator>();
  const hourAll = new Map<string, Accumulator>();
  for (const v of values) {
    const value = v.value;
    if (value === null) continue;
    const ms = Date.parse(v.time);
    const n = Number(value);
    const int = Number.isSafeInteger(n) && INTEGER.test(value);
    const rest = `|${v.subject}|${JSON.stringify(v.dims)}`;
    const m = ms - (((ms % 60_000) + 60_000) % 60_000);
    const h = ms - (((ms % 3_600_000) + 3_600_000) % 3_600_000);
    const d = ms - (((ms % 86_400_000) + 86_400_000) % 86_400_000);
    add(minute, `${v.meter}|${m}${rest}`, v, v.subject, value, m, ms, n, int);
    add(hour, `${v.meter}|${h}${rest}`, v, v.subject, value, h, ms, n, int);
    add(day, `${v.meter}|${d}${rest}`, v, v.subject, value, d, ms, n, int);
    add(hourAll, `${v.meter}|${h}|*|${JSON.stringify(v.dims)}`, v, '*', value, h, ms, n, int);
  }
  return { minute: finish(minute), hour: finish(hour), day: finish(day), hourAll: finish(hourAll) };
}

function add(
  map: Map<string, Accumulator>,
  key: string,
  v: ValueRow,
  subject: string,
  value: string,
  bucketMs: number,
  ms: number,
  n: number,
  int: boolean,
) {
  const acc = map.get(key);
  if (!acc) {
    map.set(key, {
      row: {
        meter: v.meter,
        bucket: new Date(bucketMs).toISOString(),
        subject,
        dims: v.dims,
        sum: value,
        count: 1,
        min: value,
        max: value,
        latest_time: v.time,
        latest_value: value,
      },
      intSum: int ? n : null,
      decSum: int ? null : new Decimal(value),
      minN: n,
      maxN: n,
      latestMs: ms,
    });
    return;
  }
  acc.row.count += 1;
  if (acc.intSum !== null && int && Number.isSafeInteger(acc.intSum + n)) {
    acc.intSum += n;
  } else {
    acc.decSum = (acc.decSum ?? new Decimal(acc.intSum ?? 0)).plus(value);
    acc.intSum = null;
  }
  if (n < acc.minN) {
    acc.minN = n;
    acc.row.min = value;
  }
  if (n > acc.maxN) {
    acc.maxN = n;
    acc.row.max = value;
  }
  if (ms >= acc.latestMs) {
    acc.latestMs = ms;
    acc.row.latest_time = v.time;
    acc.row.latest_value = value;
  }
}

/** Sorted by key, so concurrent writers (PostgreSQL, several workers) lock rows in one order. */
function finish(map: Map<string, Accumulator>): RollupDelta[] {
  const keys = [...map.keys()].sort();
  return keys.map((key) => {
    const acc = map.get(key) as Accumulator;
    acc.row.sum = acc.intSum !== null ? String(acc.intSum) : (acc.decSum as Decimal).toFixed();
    return acc.row;
  });
}
