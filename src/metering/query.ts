/**
 * Meter queries, shaped like OpenMeter's `GET /api/v1/meters/{meter}/query` response so the
 * HTTP API can return them as they are. Periods are half-open: [from, to).
 */
export type WindowSize = 'MINUTE' | 'HOUR' | 'DAY' | 'MONTH';

export interface MeterQueryParams {
  meterSlug: string;
  from?: Date;
  to?: Date;
  windowSize?: WindowSize;
  /** IANA time zone for window boundaries (default UTC). */
  windowTimeZone?: string;
  /** Restrict to these subjects (customer ids). */
  subject?: string[];
  /** Only events whose group-by dimension equals the value. */
  filterGroupBy?: Record<string, string>;
  /** Split rows by these dimensions (`subject` is allowed too). */
  groupBy?: string[];
}

export interface MeterQueryRow {
  value: number;
  windowStart: string;
  windowEnd: string;
  subject: string | null;
  groupBy: Record<string, string | null>;
}

export interface MeterQueryResult {
  from?: string;
  to?: string;
  windowSize?: WindowSize;
  data: MeterQueryRow[];
}

/** What billing, entitlements and the portal use to read usage; implemented by metering. */
export interface MeterReader {
  query(params: MeterQueryParams): Promise<MeterQueryResult>;
}
