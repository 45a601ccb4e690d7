import { problems } from '../http/problem.ts';

/**
 * The time range of a portal usage query. Dates are ISO 8601 date-times within
 * [1970-01-01T00:00:00Z, 9999-12-31T23:59:59Z] (JavaScript accepts years up to ±275,760, which the
 * store cannot hold), `to` after `from`; anything else is a 400 naming the field. Periods are
 * half-open: `[from, to)`.
 */
export const EARLIEST = new Date('1970-01-01T00:00:00Z');
export const LATEST = new Date('9999-12-31T23:59:59Z');

export type UsageWindow = 'MINUTE' | 'HOUR' | 'DAY';

/** How far back a query without `from` reaches, per window size. */
const DEFAULT_SPAN: Record<UsageWindow, number> = {
  MINUTE: 3_600_000,
  HOUR: 48 * 3_600_000,
  DAY: 30 * 86_400_000,
};

const ISO_DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/;

function invalid(field: string, message: string) {
  return problems.validation(`${field}: ${message}`, [{ path: field, message }]);
}

function parseDate(field: 'from' | 'to', value: string): Date {
  const date = ISO_DATE_TIME.test(value) ? new Date(value) : new Date(Number.NaN);
  if (Number.isNaN(date.getTime())) {
    throw invalid(field, 'an ISO 8601 date-time such as "2026-03-01T00:00:00Z"');
  }
  if (date < EARLIEST || date > LATEST) {
    throw invalid(field, `must be between ${EARLIEST.toISOString()} and ${LATEST.toISOString()}`);
  }
  return date;
}

export function usageWindow(value: string | undefined): UsageWindow {
  if (value === undefined || value === 'HOUR') return 'HOUR';
  if (value === 'DAY' || value === 'MINUTE') return value;
  throw invalid('window', 'one of MINUTE, HOUR, DAY');
}

export function usageRange(
  query: { from?: string; to?: string },
  windowSize: UsageWindow,
  now: Date,
): { from: Date; to: Date | undefined } {
  const from = query.from
    ? parseDate('from', query.from)
    : new Date(now.getTime() - DEFAULT_SPAN[windowSize]);
  const to = query.to ? parseDate('to', query.to) : undefined;
  if (to && to <= from) throw invalid('to', 'must be after from');
  return { from, to };
}
