/**
 * Time zones of meter query windows: whether a zone's windows start on whole UTC hours or days
 * (then hour and day rollup buckets fit inside them; reader.ts), and which zones exist.
 */
function offsetMinutes(timeZone: string, at: Date): number {
  const part = new Intl.DateTimeFormat('en-US', { timeZone, timeZoneName: 'longOffset' })
    .formatToParts(at)
    .find((p) => p.type === 'timeZoneName')?.value;
  const m = /GMT([+-])(\d{2}):(\d{2})/.exec(part ?? '');
  if (!m) return 0;
  return (m[1] === '-' ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3]));
}

const DAY = 86_400_000;
const WEEK = 7 * DAY;
/** zone → year → the distinct UTC offsets (minutes) the zone has during that year. */
const yearOffsets = new Map<string, Map<number, Set<number>>>();

/** The zone's offsets during a UTC year, sampled weekly (DST and other changes last longer). */
function offsetsIn(timeZone: string, year: number): Set<number> {
  let years = yearOffsets.get(timeZone);
  if (!years) {
    years = new Map();
    yearOffsets.set(timeZone, years);
  }
  let offsets = years.get(year);
  if (!offsets) {
    offsets = new Set();
    const end = Date.UTC(year + 1, 0, 1);
    for (let t = Date.UTC(year, 0, 1); t < end; t += WEEK) offsets.add(offsetMinutes(timeZone, new Date(t)));
    offsets.add(offsetMinutes(timeZone, new Date(end - 1)));
    years.set(year, offsets);
  }
  return offsets;
}

/**
 * Whether every offset the zone has over the range is a multiple of `minutes`: then windows in
 * that zone start on whole UTC hours (or days) and rollup buckets fit inside them. Every year the
 * range touches is checked (an open end counts as this year), so a zone that moved to or from a
 * half-hour offset in some year reads minute rollups for ranges that include that year.
 */
export function zoneAligned(
  timeZone: string,
  minutes: number,
  from: Date | null,
  to: Date | null,
  now: Date,
): boolean {
  if (timeZone === 'UTC' || timeZone === 'Etc/UTC') return true;
  const first = (from ?? now).getUTCFullYear();
  const last = (to ?? now).getUTCFullYear();
  const years = new Set([now.getUTCFullYear()]);
  // Open or very long ranges: check the years with data that matter for billing and dashboards.
  for (let y = Math.max(first, last - 50); y <= last; y++) years.add(y);
  for (const y of years) {
    for (const offset of offsetsIn(timeZone, y)) if (offset % minutes !== 0) return false;
  }
  return true;
}

export function validTimeZone(timeZone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone });
    return true;
  } catch {
    return false;
  }
}
