/**
 * Small, exact helpers for the two time notations users write in config:
 * ISO 8601 durations (`P1M`, `P14D`, `PT1H`) for billing and usage periods, and short windows
 * (`1s`, `1m`, `1h`, `1d`) for rate limits.
 */
export interface IsoDuration {
  years: number;
  months: number;
  weeks: number;
  days: number;
  hours: number;
  minutes: number;
  seconds: number;
}

const ISO_RE = /^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$/;

export function parseIsoDuration(text: string): IsoDuration | null {
  const m = ISO_RE.exec(text);
  if (!m || text === 'P' || text.endsWith('T')) return null;
  const n = (i: number) => (m[i] ? Number(m[i]) : 0);
  return { years: n(1), months: n(2), weeks: n(3), days: n(4), hours: n(5), minutes: n(6), seconds: n(7) };
}

/** Adds a duration in UTC calendar arithmetic; month ends clamp (Jan 31 + P1M = Feb 28/29). */
export function addIsoDuration(from: Date, duration: IsoDuration | string, times = 1): Date {
  const d = typeof duration === 'string' ? parseIsoDuration(duration) : duration;
  if (!d) throw new Error(`invalid ISO 8601 duration: ${String(duration)}`);
  const start = new Date(from.getTime());
  const totalMonths = (d.years * 12 + d.months) * times;
  let result = start;
  if (totalMonths !== 0) {
    const y = start.getUTCFullYear();
    const mo = start.getUTCMonth() + totalMonths;
    const targetYear = y + Math.floor(mo / 12);
    const targetMonth = ((mo % 12) + 12) % 12;
    const lastDay = new Date(Date.UTC(targetYear, targetMonth + 1, 0)).getUTCDate();
    const day = Math.min(start.getUTCDate(), lastDay);
    result = new Date(
      Date.UTC(
        targetYear,
        targetMonth,
        day,
        start.getUTCHours(),
        start.getUTCMinutes(),
        start.getUTCSeconds(),
        start.getUTCMilliseconds(),
      ),
    );
  }
  const ms =
    ((d.weeks * 7 + d.days) * 86_400_000 + d.hours * 3_600_000 + d.minutes * 60_000 + d.seconds * 1000) *
    times;
  return new Date(result.getTime() + ms);
}

const WINDOW_RE = /^(\d+)(ms|s|m|h|d)$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `'1m'` → 60000. Returns null for anything else. */
export function parseWindow(text: string): number | null {
  const m = WINDOW_RE.exec(text);
  if (!m) return null;
  const value = Number(m[1]) * (UNIT_MS[m[2]!] ?? 0);
  return value > 0 ? value : null;
}

/**
 * Milliseconds of a fixed-length ISO 8601 duration (`PT6H`, `P7D`, `P2W`). Years and months have
 * no fixed length, so `P1M` is null here: use it only where a calendar is involved (periods).
 */
export function isoDurationMs(text: string): number | null {
  const d = parseIsoDuration(text);
  if (!d || d.years + d.months > 0) return null;
  const ms = (((d.weeks * 7 + d.days) * 24 + d.hours) * 60 + d.minutes) * 60_000 + d.seconds * 1000;
  return ms > 0 ? ms : null;
}

/** Whole days of a duration written in days or weeks only (`P14D`, `P2W`); null otherwise. */
export function isoDurationDays(text: string): number | null {
  const d = parseIsoDuration(text);
  if (!d || d.years || d.months || d.hours || d.minutes || d.seconds) return null;
  return d.weeks * 7 + d.days;
}
