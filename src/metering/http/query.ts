import { createRoute, type OpenAPIHono, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { jsonBody, ok, pathParam } from '../../http/openapi.ts';
import { problems } from '../../http/problem.ts';
import type { MeterRegistry } from '../meters.ts';
import type { Meter } from '../model.ts';
import type { GroupByValuesParams, MeterQueryParams, MeterQueryResult, MeterReader } from '../query.ts';
import type { CustomerSubjects } from './customers.ts';
import { type HttpMeterQuery, parseDate, queryParamsFrom, queryParamsFromBody, resultCsv } from './params.ts';
import { meteringProblems, openMeterRoute } from './route.ts';
import { MeterQueryParamsSchema, MeterQueryRequestSchema, MeterQueryResultSchema } from './schemas.ts';

const MeterParam = pathParam('idOrSlug');
const tags = ['Meters'];
/** JSON, or OpenMeter's CSV (query_csv.go) when the client accepts `text/csv`. */
const queryAnswer = {
  description: 'The meter values per window and group',
  content: {
    'application/json': { schema: MeterQueryResultSchema },
    'text/csv': {
      schema: z.string().openapi({
        description:
          'window_start, window_end, subject, customer_id, the group-by keys, value (six decimals)',
      }),
    },
  },
};

const queryGet = createRoute({
  method: 'get',
  path: '/meters/{idOrSlug}/query',
  tags,
  summary: 'Query a meter',
  request: { params: MeterParam, query: MeterQueryParamsSchema },
  responses: { 200: queryAnswer, ...meteringProblems(404) },
});

const queryPost = createRoute({
  method: 'post',
  path: '/meters/{idOrSlug}/query',
  tags,
  summary: 'Query a meter (request in the body)',
  request: { params: MeterParam, body: jsonBody(MeterQueryRequestSchema) },
  responses: { 200: queryAnswer, ...meteringProblems(404) },
});

const groupByValues = createRoute({
  method: 'get',
  path: '/meters/{idOrSlug}/group-by/{groupByKey}/values',
  tags,
  summary: 'Values of a group-by key',
  description: 'The distinct values in the period; without from and to, the last 24 hours.',
  request: {
    params: MeterParam.extend(pathParam('groupByKey').shape),
    query: z.object({
      from: z.string().optional().openapi({ format: 'date-time' }),
      to: z.string().optional().openapi({ format: 'date-time' }),
      search: z.string().optional().openapi({ description: 'Case-insensitive substring' }),
    }),
  },
  responses: { 200: ok(z.array(z.string()), 'The values'), ...meteringProblems(404) },
});

/**
 * Meter queries: `GET` and `POST /api/v1/meters/{meter}/query` (JSON, or `text/csv` when the
 * client accepts it) and `GET /api/v1/meters/{meter}/group-by/{key}/values`.
 */
export function mountQueryRoutes(
  app: OpenAPIHono,
  deps: {
    meters: MeterRegistry;
    reader: MeterReader;
    groupByValues: (params: GroupByValuesParams) => Promise<string[]>;
    customers?: CustomerSubjects;
    /** Subjects' display names, for the CSV's subject_display_name column. */
    subjectNames?: (keys: readonly string[]) => Promise<Map<string, string | null>>;
    now: () => Date;
  },
): void {
  const meterOf = (c: Context) => {
    const meter = deps.meters.get(c.req.param('idOrSlug') ?? '');
    if (!meter) throw problems.notFound(`No meter "${c.req.param('idOrSlug')}".`);
    return meter;
  };

  const answer = async (c: Context, query: HttpMeterQuery, meter: Meter) => {
    const slug = meter.slug;
    const params = { ...query.params };
    if (query.filterCustomerId?.length) {
      // As OpenMeter: filter by the customers' subject keys and group by customer_id.
      if (!deps.customers) throw problems.badRequest('Customers are not available in this process.');
      const owners = await deps.customers.subjectOwners(query.filterCustomerId);
      params.subject = [...new Set([...(params.subject ?? []), ...owners.keys()])];
      params.customerOf = Object.fromEntries(owners);
      if (!params.groupBy?.includes('customer_id'))
        params.groupBy = [...(params.groupBy ?? []), 'customer_id'];
      // The subject filter came from the customers: rows are not split by subject unless asked.
      if (!query.params.subject && !query.params.groupBy?.includes('subject')) {
        params.groupBy = params.groupBy.filter((g) => g !== 'subject');
      }
    }
    const result = asOpenMeter(await deps.reader.query(params), query, params, meter);
    // CSV when the Accept header is one media type, text/csv (parameters allowed): OpenMeter
    // reads it with Go's mime.ParseMediaType, and a list such as "text/csv, */*" fails to parse
    // and answers JSON (pkg/framework/commonhttp/encoder.go, GetMediaType).
    if ((c.req.header('accept') ?? '').split(';')[0]?.trim().toLowerCase() === 'text/csv') {
      // As query_csv.go: the display names of the rows' subjects that exist as subjects.
      const keys = [...new Set(result.data.flatMap((r) => (r.subject === null ? [] : [r.subject])))];
      const names = keys.length && deps.subjectNames ? await deps.subjectNames(keys) : undefined;
      return c.body(resultCsv(result, params.groupBy ?? [], names), 200, {
        'content-type': 'text/csv',
        'content-disposition': `attachment; filename=${slug}.csv`,
      });
    }
    return c.json(result);
  };

  openMeterRoute(app, queryGet, async (c) => {
    const meter = meterOf(c);
    return answer(c, queryParamsFrom(new URL(c.req.url), meter.slug), meter);
  });

  openMeterRoute(app, queryPost, async (c) => {
    const meter = meterOf(c);
    let body: unknown;
    try {
      body = await c.req.json();
    } catch {
      throw problems.badRequest('The body is not valid JSON.');
    }
    return answer(c, queryParamsFromBody(body, meter.slug), meter);
  });

  openMeterRoute(app, groupByValues, async (c) => {
    const meter = meterOf(c);
    const q = new URL(c.req.url).searchParams;
    let from = parseDate('from', q.get('from') ?? undefined);
    const to = parseDate('to', q.get('to') ?? undefined);
    // OpenMeter looks back 24 hours when neither end is given (httphandler/query.go).
    if (!from && !to) from = new Date(deps.now().getTime() - 86_400_000);
    const search = q.get('search') ?? undefined;
    return c.json(
      await deps.groupByValues({
        meterSlug: meter.slug,
        groupByKey: c.req.param('groupByKey') ?? '',
        from,
        to,
        search,
      }),
    );
  });
}

const EPOCH = new Date(0);

/**
 * The reader's result as OpenMeter answers the same query (openmeter/streaming/clickhouse/
 * meter_query.go and connector.go; openmeter/meter/httphandler/query.go):
 * - `from`/`to` are echoed as sent, and without windowSize they are the row's bounds (the reader
 *   counted whole seconds);
 * - a missing group-by value is "";
 * - without windowSize and any group, ClickHouse aggregates without GROUP BY, which answers one
 *   row even over no events: `count(*)` and `uniqExact` are 0 there (sum, avg, min, max and
 *   argMax are NULL, and the row is dropped), from `from` (or tumbleStart of no time, the epoch)
 *   to `to` (or the epoch's first minute's end).
 */
function asOpenMeter(
  result: MeterQueryResult,
  query: HttpMeterQuery,
  params: MeterQueryParams,
  meter: Meter,
): MeterQueryResult {
  const out: MeterQueryResult = { ...result };
  if (query.from) out.from = query.from.toISOString();
  if (query.to) out.to = query.to.toISOString();
  if (query.empty) out.data = [];
  // A group-by key the event does not have reads as "" in OpenMeter ("JSON_VALUE returns an
  // empty string if the JSON Path is not found", meter_query.go), never null.
  out.data = out.data.map((row) =>
    Object.values(row.groupBy).includes(null)
      ? { ...row, groupBy: Object.fromEntries(Object.entries(row.groupBy).map(([k, v]) => [k, v ?? ''])) }
      : row,
  );
  if (params.windowSize) return out;
  out.data = out.data.map((row) => ({
    ...row,
    ...(query.from ? { windowStart: query.from.toISOString() } : {}),
    ...(query.to ? { windowEnd: query.to.toISOString() } : {}),
  }));
  const zero = meter.aggregation === 'COUNT' || meter.aggregation === 'UNIQUE_COUNT';
  if (zero && out.data.length === 0 && (params.groupBy ?? []).length === 0) {
    out.data = [
      {
        value: 0,
        windowStart: (query.from ?? EPOCH).toISOString(),
        windowEnd: (query.to ?? new Date(60_000)).toISOString(),
        subject: null,
        groupBy: {},
      },
    ];
  }
  return out;
}
