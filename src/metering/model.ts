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
  readonly createdAt: Date;
  readonly updatedAt: Date;
  /** Compiled accessors. */
  readonly value: ((data: unknown) => unknown) | null;
  readonly dimensions: readonly { name: string; get: (data: unknown) => unknown }[];
}

/** Changes to these fields change what was extracted at ingest: the meter is rebuilt. */
export function meterFingerprint(meter: MeterConfig): string {
  const groupBy = Object.keys(meter.groupBy)
    .sort()
    .map((k) => [k, meter.groupBy[k]]);
  const basis = JSON.stringify([meter.eventType, meter.aggregation, meter.valueProperty ?? null, groupBy]);
  return createHash('sha256').update(basis).digest('hex').slice(0, 16);
}

export interface MeterRow {
  key: number;
  id: string;
  slug: string;
  created_at: Date;
  updated_at: Date;
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
    createdAt: new Date(row.created_at),
    updatedAt: new Date(row.updated_at),
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

/** The text a dimension is stored (and filtered) under. */
export function dimensionText(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return JSON.stringify(value);
}

/**
 * Applies a meter to an event. As in OpenMeter: SUM/AVG/MIN/MAX/LATEST need a number (or a string
 * that parses as one), UNIQUE_COUNT a string (numbers are accepted and counted by their text).
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
    if (typeof raw === 'string' || typeof raw === 'number') {
      return { ok: true, value: { meter: meter.key, value: null, valueText: String(raw), dims } };
    }
    return { ok: false, field, message: `meter "${meter.slug}" needs a string at ${meter.valueProperty}` };
  }
  let text: string | null = null;
  if (typeof raw === 'number' && Number.isFinite(raw)) text = String(raw);
  else if (typeof raw === 'string' && NUMERIC.test(raw.trim())) text = raw.trim();
  if (text === null) {
    return { ok: false, field, message: `meter "${meter.slug}" needs a number at ${meter.valueProperty}` };
  }
  return { ok: true, value: { meter: meter.key, value: text, valueText: null, dims } };
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
