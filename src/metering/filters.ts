import { z } from 'zod';

/**
 * OpenMeter's `FilterString` (`advancedMeterGroupByFilters` of meter queries): one operator per
 * object, `$and`/`$or` combine filters, empty strings are refused. Semantics as in OpenMeter's
 * pkg/filter/filter.go (SelectWhereExpr) and openmeter/streaming/clickhouse/meter_query.go, which
 * compares `JSON_VALUE(data, path)`: a missing group-by value reads as the empty string there,
 * so it does here too. `$contains` is a case-insensitive substring test.
 */
export interface StringFilter {
  $eq?: string;
  $ne?: string;
  $exists?: boolean;
  $in?: string[];
  $nin?: string[];
  $like?: string;
  $nlike?: string;
  $ilike?: string;
  $nilike?: string;
  $contains?: string;
  $ncontains?: string;
  $gt?: string;
  $gte?: string;
  $lt?: string;
  $lte?: string;
  $and?: StringFilter[];
  $or?: StringFilter[];
}

/** `$and`/`$or` nest at most this deep (OpenMeter bounds filter complexity the same way). */
export const MAX_FILTER_DEPTH = 2;
/** Values in one `$in`/`$nin` list, and filters in one `$and`/`$or`. */
const MAX_LIST = 100;

const text = z.string().min(1, 'must not be empty').max(1000);
const list = z.array(text).min(1).max(MAX_LIST);
/** A LIKE pattern: `\\` escapes the next character, so a lone `\\` at the end is an error. */
const pattern = text.refine((p) => (/\\*$/.exec(p)?.[0].length ?? 0) % 2 === 0, {
  message: 'must not end with a lone escape character "\\"',
});

function filterSchema(depth: number): z.ZodType<StringFilter> {
  const nested =
    depth > 0
      ? z
          .array(z.lazy(() => filterSchema(depth - 1)))
          .min(1)
          .max(MAX_LIST)
      : z.never();
  return z
    .strictObject({
      $eq: text.optional(),
      $ne: text.optional(),
      $exists: z.boolean().optional(),
      $in: list.optional(),
      $nin: list.optional(),
      $like: pattern.optional(),
      $nlike: pattern.optional(),
      $ilike: pattern.optional(),
      $nilike: pattern.optional(),
      $contains: text.optional(),
      $ncontains: text.optional(),
      $gt: text.optional(),
      $gte: text.optional(),
      $lt: text.optional(),
      $lte: text.optional(),
      $and: nested.optional(),
      $or: nested.optional(),
    })
    .refine((f) => Object.keys(f).length === 1, {
      message: `must have exactly one operator ($and/$or nest at most ${MAX_FILTER_DEPTH} deep)`,
    }) as z.ZodType<StringFilter>;
}

export const stringFilterSchema = filterSchema(MAX_FILTER_DEPTH);

/** `%` and `_` taken literally inside a LIKE pattern. */
const likeLiteral = (value: string) => value.replace(/[\\%_]/g, (c) => `\\${c}`);

/**
 * The SQL condition for `filter` on the text expression `column`; `p` adds a parameter and
 * answers its placeholder. Only validated filters reach this (see stringFilterSchema).
 */
export function filterSql(column: string, filter: StringFilter, p: (value: unknown) => string): string {
  const value = `coalesce(${column}, '')`;
  const [op, arg] = Object.entries(filter)[0] as [keyof StringFilter, unknown];
  switch (op) {
    case '$eq':
      return `${value} = ${p(arg)}`;
    case '$ne':
      return `${value} <> ${p(arg)}`;
    case '$exists':
      return arg ? `${column} is not null` : `${column} is null`;
    case '$in':
      return `${value} = any(${p(arg)}::text[])`;
    case '$nin':
      return `not (${value} = any(${p(arg)}::text[]))`;
    case '$like':
      return `${value} like ${p(arg)}`;
    case '$nlike':
      return `${value} not like ${p(arg)}`;
    case '$ilike':
      return `${value} ilike ${p(arg)}`;
    case '$nilike':
      return `${value} not ilike ${p(arg)}`;
    case '$contains':
      return `${value} ilike ${p(`%${likeLiteral(arg as string)}%`)}`;
    case '$ncontains':
      return `${value} not ilike ${p(`%${likeLiteral(arg as string)}%`)}`;
    case '$gt':
      return `${value} collate "C" > ${p(arg)}`;
    case '$gte':
      return `${value} collate "C" >= ${p(arg)}`;
    case '$lt':
      return `${value} collate "C" < ${p(arg)}`;
    case '$lte':
      return `${value} collate "C" <= ${p(arg)}`;
    case '$and':
      return `(${(arg as StringFilter[]).map((f) => filterSql(column, f, p)).join(' and ')})`;
    case '$or':
      return `(${(arg as StringFilter[]).map((f) => filterSql(column, f, p)).join(' or ')})`;
    default:
      throw new Error(`unknown filter operator ${String(op)}`);
  }
}
