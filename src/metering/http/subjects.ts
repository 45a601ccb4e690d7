import { createRoute, type OpenAPIHono, z } from '@hono/zod-openapi';
import { jsonBody, ok, pathParam } from '../../http/openapi.ts';
import { problems } from '../../http/problem.ts';
import type { Store } from '../../store/index.ts';
import { newId } from '../../util/ids.ts';
import { meteringProblems, openMeterRoute } from './route.ts';
import { SubjectSchema, SubjectUpsertSchema } from './schemas.ts';

/**
 * OpenMeter's subjects API (`/api/v1/subjects`): upsert (a batch), list, get by id or key, delete.
 * A subject is a key usage is metered under, with a display name and metadata; deleting one
 * removes the record, not the usage (as in OpenMeter).
 */
interface SubjectRow {
  key: string;
  id: string;
  display_name: string | null;
  metadata: Record<string, unknown> | string | null;
  created_at: Date;
  updated_at: Date;
}

const subjectJson = (row: SubjectRow) => ({
  id: row.id,
  key: row.key,
  displayName: row.display_name,
  metadata: typeof row.metadata === 'string' ? JSON.parse(row.metadata) : (row.metadata ?? {}),
  createdAt: new Date(row.created_at).toISOString(),
  updatedAt: new Date(row.updated_at).toISOString(),
});

const COLUMNS = 'key, id, display_name, metadata, created_at, updated_at';

const SubjectParam = pathParam('idOrKey');
const tags = ['Subjects'];

/** Display names (null when unset) of the subjects that exist among these keys. */
export const subjectNames =
  (store: Store) =>
  async (keys: readonly string[]): Promise<Map<string, string | null>> => {
    const rows = await store.query<{ key: string; display_name: string | null }>(
      'select key, display_name from metering_subjects where key = any($1::text[])',
      [keys],
    );
    return new Map(rows.map((r) => [r.key, r.display_name]));
  };

export function mountSubjectRoutes(app: OpenAPIHono, deps: { store: Store }): void {
  const { store } = deps;
  const find = async (idOrKey: string) => {
    const [row] = await store.query<SubjectRow>(
      `select ${COLUMNS} from metering_subjects where key = $1 or id = $1 order by (key = $1) desc limit 1`,
      [idOrKey],
    );
    if (!row) throw problems.notFound(`No subject "${idOrKey}".`);
    return row;
  };

  const upsert = createRoute({
    method: 'post',
    path: '/subjects',
    tags,
    summary: 'Create or update subjects',
    request: { body: jsonBody(SubjectUpsertSchema) },
    responses: { 200: ok(z.array(SubjectSchema), 'The subjects as stored'), ...meteringProblems() },
  });
  openMeterRoute(app, upsert, async (c) => {
    let body: unknown;
    try {
      body = await c.req.json();
    } catch {
      throw problems.badRequest('The body is not valid JSON.');
    }
    const parsed = SubjectUpsertSchema.safeParse(body);
    if (!parsed.success) {
      const errors = parsed.error.issues.map((i) => ({
        path: i.path.join('.') || '(body)',
        message: i.message,
      }));
      throw problems.validation(`Invalid subjects: ${errors[0]?.path}: ${errors[0]?.message}`, errors);
    }
    // An existing subject is updated with the fields the payload has, as OpenMeter's upsert
    // (openmeter/subject/httphandler/subject.go: a field left out keeps its value, null clears it).
    const raw = body as Record<string, unknown>[];
    const rows: SubjectRow[] = [];
    for (const [i, s] of parsed.data.entries()) {
      const has = (field: string) => Object.hasOwn(raw[i] ?? {}, field);
      const [row] = await store.query<SubjectRow>(
        `insert into metering_subjects (key, id, display_name, metadata) values ($1, $2, $3, $4::jsonb)
         on conflict (key) do update set
           display_name = case when $5 then excluded.display_name else metering_subjects.display_name end,
           metadata = case when $6 then excluded.metadata else metering_subjects.metadata end,
           updated_at = now()
         returning ${COLUMNS}`,
        [
          s.key,
          newId('sub'),
          s.displayName ?? null,
          JSON.stringify(s.metadata ?? {}),
          has('displayName'),
          has('metadata'),
        ],
      );
      rows.push(row as SubjectRow);
    }
    return c.json(rows.map(subjectJson));
  });

  const list = createRoute({
    method: 'get',
    path: '/subjects',
    tags,
    summary: 'List subjects',
    responses: { 200: ok(z.array(SubjectSchema), 'Subjects, oldest first'), ...meteringProblems() },
  });
  openMeterRoute(app, list, async (c) =>
    c.json(
      (
        await store.query<SubjectRow>(
          `select ${COLUMNS} from metering_subjects order by created_at, id limit 10000`,
        )
      ).map(subjectJson),
    ),
  );

  const get = createRoute({
    method: 'get',
    path: '/subjects/{idOrKey}',
    tags,
    summary: 'Get a subject',
    request: { params: SubjectParam },
    responses: { 200: ok(SubjectSchema, 'The subject'), ...meteringProblems(404) },
  });
  openMeterRoute(app, get, async (c) => c.json(subjectJson(await find(c.req.param('idOrKey') ?? ''))));

  const remove = createRoute({
    method: 'delete',
    path: '/subjects/{idOrKey}',
    tags,
    summary: 'Delete a subject',
    description: 'Removes the record, not the usage metered under its key.',
    request: { params: SubjectParam },
    responses: { 204: { description: 'Deleted' }, ...meteringProblems(404) },
  });
  openMeterRoute(app, remove, async (c) => {
    const row = await find(c.req.param('idOrKey') ?? '');
    await store.query('delete from metering_subjects where key = $1', [row.key]);
    return c.body(null, 204);
  });
}
