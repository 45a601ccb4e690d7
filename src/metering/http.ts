import type { Hono } from 'hono';
import { requireAdmin } from '../admin/auth.ts';
import { ProblemError, problems } from '../http/problem.ts';
import type { MeterRegistry } from './meters.ts';
import type { Meter } from './model.ts';
import type { MeterQueryParams, MeterReader, WindowSize } from './query.ts';
import type { EventFilter, ListedEventRow } from './repo.ts';
import { type IngestService, inTimeRange } from './service.ts';

/**
 * The OpenMeter-compatible API (same paths, parameters and fields as OpenMeter's `/api/v1`),
 * guarded by the admin token as OpenMeter's API key, so OpenMeter's official clients work
 * unchanged against Tollgate's console listener.
 */
export function meterJson(meter: Meter) {
  return {
    id: meter.id,
    slug: meter.slug,
    name: meter.name,
    ...(meter.description ? { description: meter.description } : {}),
    aggregation: meter.aggregation,
    eventType: meter.eventType,
    ...(meter.valueProperty ? { valueProperty: meter.valueProperty } : {}),
    groupBy: { ...meter.groupBy },
    createdAt: meter.createdAt.toISOString(),
    updatedAt: meter.updatedAt.toISOString(),
  };
}

const EVENT_TYPES = [
  'application/cloudevents+json',
  'application/cloudevents-batch+json',
  'application/json',
];

function parseDate(name: string, value: string | undefined): Date | undefined {
  if (value === undefined || value === '') return undefined;
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) {
    throw problems.validation(`Invalid "${name}".`, [
      { path: name, message: 'must be an RFC 3339 date-time, e.g. 2026-01-01T00:00:00Z' },
    ]);
  }
  if (!inTimeRange(d.getTime())) {
    throw problems.validation(`"${name}" is out of range.`, [
      { path: name, message: 'must be between 1970-01-01 and 9999-12-31' },
    ]);
  }
  return d;
}

/** Reads OpenMeter's query parameters: repeated `subject`/`groupBy`, deepObject `filterGroupBy[k]=v`. */
export function queryParamsFrom(url: URL, meterSlug: string): MeterQueryParams {
  const q = url.searchParams;
  const windowSize = q.get('windowSize') ?? undefined;
  if (windowSize !== undefined && !['MINUTE', 'HOUR', 'DAY', 'MONTH'].includes(windowSize)) {
    throw problems.validation(`Unsupported windowSize "${windowSize}".`, [
      { path: 'windowSize', message: 'must be MINUTE, HOUR, DAY or MONTH' },
    ]);
  }
  const filterGroupBy: Record<string, string> = {};
  for (const [key, value] of q) {
    const m = /^filterGroupBy\[([^\]]+)\]$/.exec(key);
    if (m?.[1]) filterGroupBy[m[1]] = value;
  }
  const list = (name: string) =>
    q
      .getAll(name)
      .flatMap((v) => v.split(','))
      .map((v) => v.trim())
      .filter(Boolean);
  const subject = q.has('subject') ? list('subject') : undefined;
  let groupBy = q.has('groupBy') ? list('groupBy') : undefined;
  // OpenMeter filters by `subject` and groups by it too: one row per subject, each carrying its
  // subject (openmeter/meter/httphandler/mapping.go, toQueryParamsFromRequest).
  if (subject && !groupBy?.includes('subject')) groupBy = [...(groupBy ?? []), 'subject'];
  return {
    meterSlug,
    from: parseDate('from', q.get('from') ?? undefined),
    to: parseDate('to', q.get('to') ?? undefined),
    windowSize: windowSize as WindowSize | undefined,
    windowTimeZone: q.get('windowTimeZone') ?? undefined,
    subject,
    groupBy,
    filterGroupBy: Object.keys(filterGroupBy).length ? filterGroupBy : undefined,
  };
}

export function mountMeteringRoutes(
  app: Hono,
  deps: {
    adminToken: string;
    meters: MeterRegistry;
    reader: MeterReader;
    ingest: IngestService;
    listEvents: (filter: EventFilter) => Promise<ListedEventRow[]>;
  },
): void {
  const auth = requireAdmin(deps.adminToken);
  app.use('/api/v1/events', auth);
  app.use('/api/v1/meters', auth);
  app.use('/api/v1/meters/*', auth);

  app.post('/api/v1/events', async (c) => {
    const contentType = (c.req.header('content-type') ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
    if (!EVENT_TYPES.includes(contentType)) {
      // OpenMeter answers 400 "invalid content type: …" (openmeter/ingest/httpdriver/ingest.go and
      // errors.go: ErrorInvalidContentType is mapped to http.StatusBadRequest).
      throw new ProblemError({
        status: 400,
        type: 'invalid-content-type',
        title: 'Bad request',
        detail: `invalid content type: ${contentType || '(none)'}; send events as ${EVENT_TYPES.join(', ')}`,
        extensions: { contentType },
      });
    }
    // The console's body guard (src/http/body-limit.ts) has already bounded the body
    // (console.limits.bodyBytesByRoute, 32 MiB here by default) and its JSON nesting depth
    // (console.limits.jsonDepth): a 10,000-deep event never reaches JSON.parse (issue 12, row 1).
    const text = await c.req.text();
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw problems.badRequest('The body is not valid JSON.');
    }
    if (contentType === 'application/cloudevents-batch+json' && !Array.isArray(body)) {
      throw problems.validation('A CloudEvents batch must be a JSON array.', [
        { path: '(body)', message: 'must be an array of events' },
      ]);
    }
    if (contentType === 'application/cloudevents+json' && Array.isArray(body)) {
      throw problems.validation('Send a batch as application/cloudevents-batch+json.', [
        { path: '(body)', message: 'must be a single event object' },
      ]);
    }
    const events = deps.ingest.parse(body, undefined, text.includes('\\u0000'));
    const strict = c.req.query('strict');
    if (strict !== undefined && strict !== 'true' && strict !== 'false') {
      throw problems.validation('Invalid "strict".', [{ path: 'strict', message: 'must be true or false' }]);
    }
    await deps.ingest.write(events, { strict: strict === 'true' ? 'all' : 'meters' });
    return c.body(null, 204);
  });

  // OpenMeter's "list ingested events" (debugging): newest first, filtered by subject, id, time.
  app.get('/api/v1/events', async (c) => {
    const url = new URL(c.req.url);
    const q = url.searchParams;
    const limit = Number(q.get('limit') ?? 100);
    if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) {
      throw problems.validation('Invalid limit.', [
        { path: 'limit', message: 'must be an integer from 1 to 10000' },
      ]);
    }
    const rows = await deps.listEvents({
      subject: q.get('subject') ?? undefined,
      id: q.get('id') ?? undefined,
      from: parseDate('from', q.get('from') ?? undefined),
      to: parseDate('to', q.get('to') ?? undefined),
      limit,
    });
    return c.json(
      rows.map((r) => ({
        event: {
          specversion: '1.0',
          id: r.id,
          source: r.source,
          type: r.type,
          subject: r.subject,
          time: new Date(r.time).toISOString(),
          data: r.data,
        },
        ingestedAt: new Date(r.ingested_at).toISOString(),
        storedAt: new Date(r.ingested_at).toISOString(),
      })),
    );
  });

  app.get('/api/v1/meters', (c) => c.json(deps.meters.list().map(meterJson)));

  app.get('/api/v1/meters/:idOrSlug', (c) => {
    const meter = deps.meters.get(c.req.param('idOrSlug'));
    if (!meter) throw problems.notFound(`No meter "${c.req.param('idOrSlug')}".`);
    return c.json(meterJson(meter));
  });

  app.get('/api/v1/meters/:idOrSlug/query', async (c) => {
    const meter = deps.meters.get(c.req.param('idOrSlug'));
    if (!meter) throw problems.notFound(`No meter "${c.req.param('idOrSlug')}".`);
    const result = await deps.reader.query(queryParamsFrom(new URL(c.req.url), meter.slug));
    return c.json(result);
  });
}
