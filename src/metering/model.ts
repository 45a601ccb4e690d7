import { createHash } from 'node:crypto';
import type { MeterConfig } from '../config/index.ts';
import { compileJsonPath } from '../util/jsonpath.ts';
import type { UsageEvent } from './events.ts';

/**
 * Meters are declared in `tollgate.config.ts` (as in OpenMeter: event type, aggregation, value
 * JSONPath, group-by JSONPaths). At start-up each gets a row in `metering_meters` so it has a
 * stable id and creation time for the OpenMeter-compatible API; its JSONPaths are compiled once
 * and applied to every event at ingest, so queries never parse event JSON.
 */
export type Aggregation = MeterConfig['aggregation'];

export interface Meter {
  /** Internal numeric id (compact key of the value and rollup tables). */
  readonly key: number;
  /** Public id (`GET /api/v1/meters/{id}`). */
  readonly id: string;
  readonly slug: string;
  readonly name: string;
  readonly description?: string;
  readonly eventType: string;
  readonly aggregation: Aggregation;
  readonly valueProperty?: string;
  readonly groupBy: Readonly<Record<string, string>>;
  /** Negative values count (else they are skipped like non-numbers). */
  readonly allowNegative: boolean;
  /** An event without a usable value for this meter makes ingest refuse its batch. */
  readonly strict: boolean;
  readonly createdAt: Date;
  readonly updatedAt: Date;
  /** Declared in tollgate.config.ts, or created through `POST /api/v1/meters`. */
  readonly origin: 'config' | 'api';
  /** API meters are deleted softly (`DELETE /api/v1/meters/{meter}`). */
  readonly deletedAt: Date | null;
  /** Compiled accessors. */
  readonly value: ((data: unknown) => unknown) | null;
  readonly dimensions: readonly { name: string; get: (data: unknown) => unknown }[];
}

/** Changes to these fields change what was extracted at ingest: the meter is rebuilt. */
export function meterFingerprint(meter: MeterConfig): string {
  const groupBy = Object.keys(meter.groupBy)
    .sort()
    .map((k) => [k, meter.groupBy[k]]);
  // allowNegative changes which values are kept; it joins the basis only when set, so the
  // fingerprints of meters stored before it existed stay the same.
  const basis = JSON.stringify([
    meter.eventType,
    meter.aggregation,
    meter.valueProperty ?? null,
    groupBy,
    ...(meter.allowNegative ? ['allowNegative'] : []),
  ]);
  return createHash('sha256').update(basis).digest('hex').slice(0, 16);
}

export interface MeterRow {
  key: number;
  id: string;
  slug: string;
  created_at: Date;
  updated_at: Date;
  origin?: string;
  deleted_at?: Date | null;
}

export function compileMeter(config: MeterConfig, row: MeterRow): Meter {
  return {
    key: row.key,
    id: row.id,
    slug: config.slug,
    name: config.name ?? config.slug,
    description: config.description,
    eventType: config.eventType,
    aggregation: config.aggregation,
    valueProperty: config.valueProperty,
    groupBy: config.groupBy,
    allowNegative: config.allowNegative === true,
    strict: config.strict === true,
    createdAt: new Date(row.created_at),
    updatedAt: new Date(row.updated_at),
    origin: row.origin === 'api' ? 'api' : 'config',
    deletedAt: row.deleted_at ? new Date(row.deleted_at) : null,
    value:
      config.aggregation === 'COUNT' || !config.valueProperty ? null : compileJsonPath(config.valueProperty),
    dimensions: Object.entries(config.groupBy).map(([name, path]) => ({ name, get: compileJsonPath(path) })),
  };
}

/** One meter's view of one event: what the value and rollup tables store. */
export interface MeterValue {
  meter: number;
  /** Numeric value (SUM, AVG, MIN, MAX, LATEST; 1 for COUNT); null for UNIQUE_COUNT. */
  value: string | null;
  /** UNIQUE_COUNT: the value counted distinctly. */
  valueText: string | null;
  dims: Record<string, string>;
}

export type Extraction = { ok: true; value: MeterValue } | { ok: false; field: string; message: string };

/** A number as text, as SUM/AVG/MIN/MAX/LATEST accept it (the gateway's quota counts read the same). */
export const NUMERIC = /^-?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$/;

/**
 * The largest magnitude of one meter value. Any bound far below Number.MAX_VALUE keeps every sum
 * finite: 2^63 events of 1e15 stay below 1e34, where `1e308` twice overflowed to `null` (issue 12,
 * row 9). 1e15 is a petabyte in bytes or a million years in milliseconds.
 */
export const MAX_METER_VALUE = 1e15;

/** The text a dimension is stored (and filtered) under. */
export function dimensionText(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return JSON.stringify(value);
}

/**
 * A meter value as the text the store keeps, or why it is not one. Numbers and numeric strings
 * count (`"60"` is 60), as in OpenMeter's meter query, which reads every value with
 * `ifNotFinite(toFloat64OrNull(JSON_VALUE(data, path)), null)`
 * (openmeterio/openmeter openmeter/streaming/clickhouse/meter_query.go). The text is the
 * shortest form of the double (String(n)), so a value never carries more digits than a double
 * holds and the store's numeric type cannot be made to overflow by a long string.
 */
function numericValue(raw: unknown, allowNegative: boolean): { text: string } | { reason: string } {
  let n: number;
  if (typeof raw === 'number') n = raw;
  else if (typeof raw === 'string' && NUMERIC.test(raw.trim())) n = Number(raw.trim());
  else return { reason: raw === undefined || raw === null ? 'missing' : 'not a number' };
  if (!Number.isFinite(n) || Math.abs(n) > MAX_METER_VALUE) {
    return { reason: `outside ±${MAX_METER_VALUE.toExponential()}` };
  }
  if (n < 0 && !allowNegative) return { reason: 'negative (the meter does not allow negative values)' };
  return { text: String(n === 0 ? 0 : n) };
}

/** A value as a meter counts it, or null when the meter skips it (the gateway's quotas use this). */
export function meterNumber(raw: unknown, allowNegative: boolean): number | null {
  const value = numericValue(raw, allowNegative);
  return 'text' in value ? Number(value.text) : null;
}

/**
 * Applies a meter to an event. As in OpenMeter: SUM/AVG/MIN/MAX/LATEST need a number (or a string
 * that parses as one), UNIQUE_COUNT a string (numbers are accepted and counted by their text).
 * An event without a usable value is a miss: ingest skips it for this meter (OpenMeter's
 * default) or refuses the batch (strict ingest).
 */
export function extract(meter: Meter, event: UsageEvent): Extraction {
  const dims: Record<string, string> = {};
  for (const dim of meter.dimensions) {
    const v = dimensionText(dim.get(event.data));
    if (v !== undefined) dims[dim.name] = v;
  }
  if (meter.aggregation === 'COUNT')
    return { ok: true, value: { meter: meter.key, value: '1', valueText: null, dims } };
  const raw = meter.value?.(event.data);
  const field = `data${(meter.valueProperty ?? '$').slice(1)}`;
  if (meter.aggregation === 'UNIQUE_COUNT') {
    if (typeof raw === 'string' || (typeof raw === 'number' && Number.isFinite(raw))) {
      return { ok: true, value: { meter: meter.key, value: null, valueText: String(raw), dims } };
    }
    return { ok: false, field, message: `meter "${meter.slug}" needs a string at ${meter.valueProperty}` };
  }
  const value = numericValue(raw, meter.allowNegative);
  if ('reason' in value) {
    const range = meter.allowNegative
      ? `-${MAX_METER_VALUE} to ${MAX_METER_VALUE}`
      : `0 to ${MAX_METER_VALUE}`;
    return {
      ok: false,
      field,
      message: `meter "${meter.slug}" needs a number from ${range} at ${meter.valueProperty} (${value.reason})`,
    };
  }
  return { ok: true, value: { meter: meter.key, value: value.text, valueText: null, dims } };
}

/** Tables owned by metering (typed for `store.db.withTables<MeteringTables>()`). */
export interface MeteringTables {
  metering_meters: {
    key: number;
    id: string;
    slug: string;
    fingerprint: string;
    definition: unknown;
    created_at: Date;
    updated_at: Date;
    origin: string;
    deleted_at: Date | null;
  };
  usage_events: {
    source: string;
    id: string;
    type: string;
    subject: string;
    time: Date;
    data: unknown;
    ingested_at: Date;
  };
  usage_consumer_checkpoints: { consumer: string; position: string; updated_at: Date };
}

/** A meter value as the store keeps it: the event's key, subject and time, and the value. */
export interface ValueRow {
  source: string;
  id: string;
  meter: number;
  subject: string;
  time: string;
  value: string | null;
  value_text: string | null;
  dims: Record<string, string>;
}

export function valueRow(event: UsageEvent, value: MeterValue): ValueRow {
  return {
    source: event.source,
    id: event.id,
    meter: value.meter,
    subject: event.subject,
    time: event.time,
    value: value.value,
    value_text: value.valueText,
    dims: value.dims,
  };
}
