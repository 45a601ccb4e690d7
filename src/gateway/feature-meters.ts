import type { ResolvedConfig } from '../config/index.ts';
import { dimensionText, meterNumber } from '../metering/model.ts';
import { compileJsonPath, type JsonPathAccessor } from '../util/jsonpath.ts';

/**
 * How a feature's usage is found in the gateway's own usage events, read with the same compiled
 * JSONPaths as the meter that bills it (`metering/model.ts`): the hard quotas and prepaid-credit
 * charges taken in the request path count exactly what the invoice will.
 */

export interface MeterFilter {
  /** The meter's group-by JSONPath, e.g. `$.model`. */
  readonly path: string;
  readonly get: JsonPathAccessor;
  readonly value: string;
}

export interface FeatureMeter {
  readonly eventType: string;
  /** The feature's `meterGroupByFilters`, as paths into `data`. */
  readonly filters: readonly MeterFilter[];
  /** The meter's `valueProperty` (SUM etc.); null = each event counts 1 (COUNT). */
  readonly value: JsonPathAccessor | null;
  /** The meter counts negative values (metering skips them otherwise). */
  readonly allowNegative?: boolean;
}

export function compileFeatureMeters(config: ResolvedConfig): Map<string, FeatureMeter> {
  const meters = new Map(config.meters.map((m) => [m.slug, m]));
  const out = new Map<string, FeatureMeter>();
  for (const feature of config.features) {
    const meter = feature.meter ? meters.get(feature.meter) : undefined;
    if (!meter) continue;
    const filters: MeterFilter[] = [];
    for (const [dimension, value] of Object.entries(feature.meterGroupByFilters ?? {})) {
      const path = meter.groupBy[dimension];
      if (path) filters.push({ path, get: compileJsonPath(path), value });
    }
    out.set(feature.key, {
      eventType: meter.eventType,
      filters,
      allowNegative: meter.allowNegative === true,
      value:
        meter.aggregation === 'COUNT' || !meter.valueProperty ? null : compileJsonPath(meter.valueProperty),
    });
  }
  return out;
}

export function matchesFilters(filters: readonly MeterFilter[], data: unknown): boolean {
  for (const filter of filters) if (dimensionText(filter.get(data)) !== filter.value) return false;
  return true;
}

/**
 * What one event adds to the feature's usage: 1 for a counted event, the value at the meter's
 * path (a finite number, or a string that parses as one, as metering accepts), 0 when the event
 * is not the feature's or has no usable value.
 */
export function amountOf(meter: FeatureMeter, type: string, data: unknown): number {
  if (type !== meter.eventType || !matchesFilters(meter.filters, data)) return 0;
  if (meter.value === null) return 1;
  return meterNumber(meter.value(data), meter.allowNegative === true) ?? 0;
}
