import { z } from 'zod';
import { jsonPath, slug } from './primitives.ts';

/** Meters (what is counted from usage events) and features (what plans price and limit). */

export const meterSchema = z.strictObject({
  slug,
  name: z.string().optional(),
  description: z.string().optional(),
  eventType: z.string().min(1),
  aggregation: z.enum(['SUM', 'COUNT', 'UNIQUE_COUNT', 'AVG', 'MIN', 'MAX', 'LATEST']),
  /** JSONPath into `data` for the value; required for every aggregation but COUNT. */
  valueProperty: jsonPath.optional(),
  /** Dimension name → JSONPath into `data`. */
  groupBy: z.record(z.string().regex(/^[A-Za-z_][\w]*$/), jsonPath).default({}),
  /** Count negative values (refunds, adjustments); otherwise they are skipped like non-numbers. */
  allowNegative: z.boolean().optional(),
  /** Refuse a whole ingest batch (400) when one of its events has no usable value for this meter. */
  strict: z.boolean().optional(),
});

export const featureSchema = z.strictObject({
  key: slug,
  name: z.string(),
  description: z.string().optional(),
  /** Usage of this feature is the meter's value (optionally filtered by group-by values). */
  meter: slug.optional(),
  meterGroupByFilters: z.record(z.string(), z.string()).optional(),
});
