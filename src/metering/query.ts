/**
 * Meter queries, shaped like OpenMeter's `GET /api/v1/meters/{meter}/query` response so the
 * HTTP API can return them as they are. Periods are half-open: [from, to).
 */
import type { StringFilter } from './filters.ts';

export type WindowSize = 'MINUTE' | 'HOUR' | 'DAY' | 'MONTH';

export interface MeterQueryParams {
  meterSlug: string;
  from?: Date;
  to?: Date;
  windowSize?: WindowSize;
  /** IANA time zone for window boundaries (default UTC). */
  windowTimeZone?: string;
  /** Restrict to these subjects (subject keys; the gateway meters a customer's usage under its id). */
  subject?: string[];
  /**
   * The usage of this customer: every subject key it owns (its id and the keys set through
   * OpenMeter's `usageAttribution.subjectKeys`), in place of `subject`. What billing,
   * entitlements and the portal read (customer-subjects.ts resolves the keys).
   */
  customer?: string;
  /** Only events whose group-by dimension equals the value. */
  filterGroupBy?: Record<string, string>;
  /** OpenMeter's `advancedMeterGroupByFilters`: a filter per group-by dimension (filters.ts). */
  groupByFilters?: Record<string, StringFilter>;
  /** Subject key → customer id: allows `customer_id` in groupBy (OpenMeter's usage attribution). */
  customerOf?: Record<string, string>;
  /** Split rows by these dimensions (`subject` is allowed too). */
  groupBy?: string[];
}

export interface MeterQueryRow {
  value: number;
  windowStart: string;
  windowEnd: string;
  subject: string | null;
  /** The customer whose subject keys the row aggregates (grouped by `customer_id`). */
  customerId?: string;
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

/** `GET /api/v1/meters/{meter}/group-by/{key}/values`: the distinct values of one dimension. */
export interface GroupByValuesParams {
  meterSlug: string;
  groupByKey: string;
  from?: Date;
  to?: Date;
  /** Case-insensitive substring of the value. */
  search?: string;
}
