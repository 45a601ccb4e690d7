import { z } from '@hono/zod-openapi';
import { meterSchema } from '../../config/schema.ts';
import { stringFilterSchema } from '../filters.ts';

/**
 * The shapes of OpenMeter's `/api/v1` as Tollgate serves them (OpenMeter's api/openapi.yaml:
 * `Meter`, `Event`, `IngestedEvent`, `MeterQueryResult`, `MeterQueryRequest`, `Subject`,
 * `Customer`), for the document at `/api/v1/openapi.json`. Request schemas here are also what the
 * handlers check bodies against (params.ts, customers-api.ts, subjects.ts), with OpenMeter's
 * answers for what they refuse.
 */
const Time = z.string().openapi({ format: 'date-time', example: '2026-01-01T00:00:00Z' });

export const MeterSchema = z
  .object({
    id: z.string(),
    slug: z.string(),
    name: z.string(),
    description: z.string().optional(),
    aggregation: z.enum(['SUM', 'COUNT', 'UNIQUE_COUNT', 'AVG', 'MIN', 'MAX', 'LATEST']),
    eventType: z.string(),
    valueProperty: z.string().optional(),
    groupBy: z.record(z.string(), z.string()).optional().openapi({ description: 'Left out when empty' }),
    createdAt: Time,
    updatedAt: Time,
    deletedAt: Time.optional(),
  })
  .openapi('Meter');

/** OpenMeter's MeterCreate: a meter definition; `eventFrom`, `metadata` and `dimensions` are accepted and not kept. */
export const MeterCreateSchema = z
  .object({
    ...meterSchema.shape,
    eventFrom: Time.optional(),
    metadata: z.record(z.string(), z.string()).optional(),
    dimensions: z.record(z.string(), z.string()).optional(),
  })
  .openapi('MeterCreate');

/** A CloudEvents 1.0 usage event. */
export const EventSchema = z
  .object({
    specversion: z.string().openapi({ example: '1.0' }),
    id: z.string(),
    source: z.string(),
    type: z.string(),
    subject: z.string(),
    time: Time.optional(),
    data: z.record(z.string(), z.unknown()).optional(),
  })
  .openapi('Event');

export const IngestedEventSchema = z
  .object({
    event: EventSchema,
    customerId: z.string().optional(),
    ingestedAt: Time,
    storedAt: Time,
  })
  .openapi('IngestedEvent');

export const MeterQueryRowSchema = z
  .object({
    value: z.number(),
    windowStart: Time,
    windowEnd: Time,
    subject: z.string().nullable(),
    customerId: z.string().optional(),
    groupBy: z.record(z.string(), z.string().nullable()),
  })
  .openapi('MeterQueryRow');

export const MeterQueryResultSchema = z
  .object({
    from: Time.optional(),
    to: Time.optional(),
    windowSize: z.enum(['MINUTE', 'HOUR', 'DAY', 'MONTH']).optional(),
    data: z.array(MeterQueryRowSchema),
  })
  .openapi('MeterQueryResult');

/**
 * OpenMeter's `FilterString` (pkg/filter/filter.go), described by hand for the document: its
 * recursive schema (filters.ts, `stringFilterSchema`, which checks it) has no generated form.
 */
const FilterString = z.record(z.string(), z.unknown()).openapi('FilterString', {
  description:
    'One operator: $eq, $ne, $exists, $in, $nin, $like, $nlike, $ilike, $nilike, $contains, $ncontains, $gt, $gte, $lt, $lte, or $and/$or of filters (two levels at most).',
});

const names = z.array(z.string().min(1).max(1000)).max(1000);

/** OpenMeter's `MeterQueryRequest` (the POST form of a meter query). */
export const MeterQueryRequestSchema = z
  .strictObject({
    clientId: z.string().optional(),
    from: z.string().optional(),
    to: z.string().optional(),
    windowSize: z.enum(['MINUTE', 'HOUR', 'DAY', 'MONTH']).optional(),
    windowTimeZone: z.string().max(100).optional(),
    subject: names.optional(),
    filterCustomerId: names.optional(),
    filterGroupBy: z.record(z.string(), names.min(1)).optional(),
    advancedMeterGroupByFilters: z.record(z.string(), FilterString).optional(),
    groupBy: names.optional(),
  })
  .openapi('MeterQueryRequest');

/** The POST form as it is checked: advancedMeterGroupByFilters by the filters' own schema. */
export const MeterQueryRequestCheck = MeterQueryRequestSchema.extend({
  advancedMeterGroupByFilters: z.record(z.string(), stringFilterSchema).optional(),
});

/** Repeated query parameters (`?subject=a&subject=b`, or comma-separated). */
const repeated = (description: string) =>
  z
    .array(z.string())
    .optional()
    .openapi({ description, param: { style: 'form', explode: true } });

/** The query string of `GET /api/v1/meters/{meter}/query` (mapping.go, toQueryParamsFromRequest). */
export const MeterQueryParamsSchema = z.object({
  from: Time.optional().openapi({ description: 'Start of the period (inclusive)' }),
  to: Time.optional().openapi({ description: 'End of the period (exclusive)' }),
  windowSize: z.enum(['MINUTE', 'HOUR', 'DAY', 'MONTH']).optional(),
  windowTimeZone: z.string().optional().openapi({ description: 'IANA time zone (default UTC)' }),
  subject: repeated('Only these subjects; rows are split by subject'),
  filterCustomerId: repeated("Only these customers' subject keys; rows are split by customer"),
  groupBy: repeated('Split rows by these group-by keys'),
  filterGroupBy: z
    .record(z.string(), z.string())
    .optional()
    .openapi({ description: 'filterGroupBy[key]=value', param: { style: 'deepObject', explode: true } }),
});

export const SubjectSchema = z
  .object({
    id: z.string(),
    key: z.string(),
    displayName: z.string().nullable(),
    metadata: z.record(z.string(), z.unknown()),
    createdAt: Time,
    updatedAt: Time,
  })
  .openapi('Subject');

export const SubjectUpsertSchema = z
  .array(
    z.strictObject({
      key: z.string().min(1).max(256),
      displayName: z.string().max(256).nullable().optional(),
      metadata: z.record(z.string(), z.unknown()).nullable().optional(),
      currentPeriodStart: z.string().optional(),
      currentPeriodEnd: z.string().optional(),
      stripeCustomerId: z
        .string()
        .startsWith('cus_', 'stripeCustomerId must start with cus_ when set')
        .nullable()
        .optional(),
    }),
  )
  .min(1)
  .max(1000)
  .openapi('SubjectUpsert');

export const CustomerSchema = z
  .object({
    id: z.string(),
    key: z.string(),
    name: z.string(),
    primaryEmail: z.string().optional(),
    currency: z.string(),
    metadata: z.record(z.string(), z.unknown()),
    usageAttribution: z.object({ subjectKeys: z.array(z.string()) }),
    currentSubscriptionId: z.string().optional().openapi({ description: 'The live subscription, if any' }),
    createdAt: Time,
    updatedAt: Time,
    deletedAt: Time.optional(),
  })
  .openapi('Customer');

export const CustomerCreateSchema = z
  .object({
    name: z.string().min(1).max(200),
    key: z.string().optional(),
    description: z.string().optional(),
    metadata: z.record(z.string(), z.string()).nullable().optional(),
    primaryEmail: z.string().optional(),
    currency: z.string().optional(),
    usageAttribution: z.object({ subjectKeys: z.array(z.string().min(1).max(256)).max(100) }).optional(),
    billingAddress: z.unknown().optional(),
  })
  .openapi('CustomerCreate');

export const CustomerListSchema = z
  .object({
    items: z.array(CustomerSchema),
    page: z.number().int(),
    pageSize: z.number().int(),
    totalCount: z.number().int(),
  })
  .openapi('CustomerList');
