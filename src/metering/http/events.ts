import { createRoute, type OpenAPIHono, z } from '@hono/zod-openapi';
import { ok } from '../../http/openapi.ts';
import { ProblemError, problems } from '../../http/problem.ts';
import type { EventFilter, ListedEventRow } from '../event-list.ts';
import type { IngestService } from '../service.ts';
import type { CustomerSubjects } from './customers.ts';
import { parseDate } from './params.ts';
import { meteringProblems, openMeterRoute } from './route.ts';
import { EventSchema, IngestedEventSchema } from './schemas.ts';

/** `POST /api/v1/events` (ingest) and `GET /api/v1/events` (list), as OpenMeter serves them. */
const EVENT_TYPES = [
  'application/cloudevents+json',
  'application/cloudevents-batch+json',
  'application/json',
];

const Batch = z.array(EventSchema);
const tags = ['Events'];

const ingestRoute = createRoute({
  method: 'post',
  path: '/events',
  tags,
  summary: 'Ingest events',
  description:
    'One CloudEvent, or a batch as a JSON array. Deduplicated on (source, id). Events without id, source, type or subject, or timed before 1970, are dropped (as OpenMeter drops them). `strict=true` refuses the whole batch instead, and when an event has no usable value for one of its meters.',
  request: {
    query: z.object({ strict: z.enum(['true', 'false']).optional() }),
    body: {
      required: true,
      content: {
        'application/cloudevents+json': { schema: EventSchema },
        'application/cloudevents-batch+json': { schema: Batch },
        'application/json': { schema: z.union([EventSchema, Batch]) },
      },
    },
  },
  responses: { 204: { description: 'Stored' }, ...meteringProblems() },
});

const listRoute = createRoute({
  method: 'get',
  path: '/events',
  tags,
  summary: 'List ingested events',
  description: 'Newest first (by event time); for debugging.',
  request: {
    query: z.object({
      limit: z.number().int().min(1).max(10_000).optional().openapi({ description: 'Default 100' }),
      subject: z.string().optional(),
      customerId: z
        .array(z.string())
        .optional()
        .openapi({ description: "Events of these customers' subject keys" }),
      id: z.string().optional().openapi({ description: 'Substring of the event id' }),
      from: z
        .string()
        .optional()
        .openapi({ format: 'date-time', description: 'Event time from (inclusive)' }),
      to: z.string().optional().openapi({ format: 'date-time', description: 'Event time to (exclusive)' }),
      ingestedAtFrom: z.string().optional().openapi({ format: 'date-time' }),
      ingestedAtTo: z.string().optional().openapi({ format: 'date-time' }),
    }),
  },
  responses: { 200: ok(z.array(IngestedEventSchema), 'Events, newest first'), ...meteringProblems() },
});

export function mountEventRoutes(
  app: OpenAPIHono,
  deps: {
    ingest: IngestService;
    listEvents: (filter: EventFilter) => Promise<ListedEventRow[]>;
    customers?: CustomerSubjects;
  },
): void {
  openMeterRoute(app, ingestRoute, async (c) => {
    // OpenMeter compares the header as sent (a Go switch on r.Header.Get("Content-Type"),
    // openmeter/ingest/httpdriver/ingest.go): `application/json; charset=utf-8` is refused there
    // too. It answers 400 "invalid content type: …" (errors.go maps ErrorInvalidContentType to
    // http.StatusBadRequest).
    const contentType = c.req.header('content-type') ?? '';
    if (!EVENT_TYPES.includes(contentType)) {
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
    const strict = c.req.query('strict');
    if (strict !== undefined && strict !== 'true' && strict !== 'false') {
      throw problems.validation('Invalid "strict".', [{ path: 'strict', message: 'must be true or false' }]);
    }
    // An empty CloudEvents batch ingests nothing (OpenMeter: 204); as application/json it is
    // "no events found" (400), as parseCloudEvents answers.
    if (contentType === 'application/cloudevents-batch+json' && (body as unknown[]).length === 0) {
      return c.body(null, 204);
    }
    // Events OpenMeter accepts and then drops (no id, source, type or subject; timed before 1970)
    // are dropped here too, unless the request is strict.
    const events = deps.ingest.parse(body, undefined, text.includes('\\u0000'), strict !== 'true');
    await deps.ingest.write(events, { strict: strict === 'true' ? 'all' : 'meters' });
    return c.body(null, 204);
  });

  // OpenMeter's "list ingested events" (debugging): newest first, filtered by subject, customer,
  // id, event time and ingestion time.
  openMeterRoute(app, listRoute, async (c) => {
    const q = new URL(c.req.url).searchParams;
    const limit = Number(q.get('limit') ?? 100);
    if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) {
      throw problems.validation('Invalid limit.', [
        { path: 'limit', message: 'must be an integer from 1 to 10000' },
      ]);
    }
    const customerIds = q
      .getAll('customerId')
      .flatMap((v) => v.split(','))
      .filter(Boolean);
    let subjects: string[] | undefined;
    let customerOf = new Map<string, string>();
    if (customerIds.length > 0) {
      if (!deps.customers) throw problems.badRequest('Customers are not available in this process.');
      customerOf = await deps.customers.subjectOwners(customerIds);
      subjects = [...customerOf.keys()];
    }
    const range = (fromName: string, toName: string) => {
      const from = parseDate(fromName, q.get(fromName) ?? undefined);
      const to = parseDate(toName, q.get(toName) ?? undefined);
      // As OpenMeter's ListEventsParams.Validate (openmeter/meterevent/service.go).
      if (from && to && to.getTime() < from.getTime()) {
        throw problems.validation(`"${toName}" is before "${fromName}".`, [
          { path: toName, message: `must not be before ${fromName}` },
        ]);
      }
      return { from, to };
    };
    const time = range('from', 'to');
    const ingested = range('ingestedAtFrom', 'ingestedAtTo');
    const rows = await deps.listEvents({
      subject: q.get('subject') ?? undefined,
      subjects,
      id: q.get('id') ?? undefined,
      from: time.from,
      to: time.to,
      ingestedFrom: ingested.from,
      ingestedTo: ingested.to,
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
        ...(customerOf.has(r.subject) ? { customerId: customerOf.get(r.subject) } : {}),
        ingestedAt: new Date(r.ingested_at).toISOString(),
        storedAt: new Date(r.ingested_at).toISOString(),
      })),
    );
  });
}
