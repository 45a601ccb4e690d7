import { CompiledQuery, type Kysely } from 'kysely';
import type { BaseDatabase, Store } from '../store/index.ts';
import type { UsageEvent } from './events.ts';
import type { ValueRow } from './model.ts';
import { rollupDeltas } from './rollup-deltas.ts';

/**
 * SQL of metering. A batch is stored as: one key row per event (source, id: the dedupe), the raw
 * events in chunks of up to 1,000 (JSON arrays sorted by time, with their time range), the meter
 * values in chunks per meter the same way, and deltas to the minute, hour, UTC day and
 * all-subjects hour rollups. The database's cost is per row, so chunks make events and values
 * cheap; rollup deltas are summed in this process first (rollup-deltas.ts), so each rollup row
 * is touched once per batch. Listing events is event-list.ts.
 * Batches travel as JSON parameters (json_to_recordset): on PGlite markedly faster than one array
 * per column. Migration 0408 describes the tables.
 */

export type Executor = Kysely<BaseDatabase>;

export async function run<Row>(db: Executor, text: string, params: readonly unknown[] = []): Promise<Row[]> {
  const result = await db.executeQuery<Row>(CompiledQuery.raw(text, [...params]));
  return result.rows;
}

/** Events or values per chunk row: big enough to amortise a row, small enough for edge reads. */
export const CHUNK_SIZE = 1_000;

const ROLLUP_COLUMNS =
  'meter int, bucket timestamptz, subject text, dims jsonb, sum numeric, count bigint, min numeric, max numeric, latest_time timestamptz, latest_value numeric';

const upsertRollup = (name: string, table: string, param: string) => `
${name} as (
  insert into ${table} as r (meter, bucket, subject, dims, sum, count, min, max, latest_time, latest_value)
  select * from json_to_recordset(${param}::text::json) as x(${ROLLUP_COLUMNS})
  on conflict (meter, bucket, subject, dims) do update set
    sum = r.sum + excluded.sum,
    count = r.count + excluded.count,
    min = least(r.min, excluded.min),
    max = greatest(r.max, excluded.max),
    latest_value = case when excluded.latest_time >= r.latest_time then excluded.latest_value else r.latest_value end,
    latest_time = greatest(r.latest_time, excluded.latest_time)
)`;

/**
 * Chunks, values and rollups of events known to be new: parameters $1 … $8. A chunk's body (a
 * JSON array, as text) travels apart from its time range, all bodies in one parameter separated
 * by U+001E, which JSON text never holds unescaped: inside the JSON parameter every quote of a body
 * would be escaped on this side and unescaped by the database.
 */
const CONTENT_CTES = `
ec as (
  insert into usage_event_chunks (min_time, max_time, count, events)
  select m.min_time, m.max_time, m.count, b.body
  from rows from (json_to_recordset($1::text::json) as (min_time timestamptz, max_time timestamptz, count int))
    with ordinality as m(min_time, max_time, count, i)
  join unnest(string_to_array($7::text, E'\\x1e')) with ordinality as b(body, i) using (i)
),
vc as (
  insert into usage_value_chunks (meter, min_time, max_time, count, vals)
  select m.meter, m.min_time, m.max_time, m.count, b.body
  from rows from (json_to_recordset($2::text::json) as (meter int, min_time timestamptz, max_time timestamptz, count int))
    with ordinality as m(meter, min_time, max_time, count, i)
  join unnest(string_to_array($8::text, E'\\x1e')) with ordinality as b(body, i) using (i)
),
${upsertRollup('rm', 'usage_rollups_minute', '$3')},
${upsertRollup('rh', 'usage_rollups_hour', '$4')},
${upsertRollup('rd', 'usage_rollups_day', '$5')},
${upsertRollup('ah', 'usage_rollups_hour_all', '$6')}`;

const CONTENT_SQL = `with ${CONTENT_CTES} select 1`;

/**
 * The whole batch in one statement, for batches whose events are all new: keys, chunks, rollup
 * deltas and consumer checkpoints. It ends by asserting that every key was inserted; if an event
 * was already stored the statement fails with TG001 and changes nothing (migration 0407). One
 * statement is one round trip to the embedded database's thread, and atomic on its own.
 */
const ONE_STATEMENT_SQL = `
with ins as (
  insert into usage_event_keys (source, id)
  select source, id from json_to_recordset($9::text::json) as x(source text, id text)
  on conflict do nothing
  returning 1
),
${CONTENT_CTES},
cp as (
  insert into usage_consumer_checkpoints (consumer, position, updated_at)
  select consumer, position, now() from json_to_recordset($11::text::json) as c(consumer text, position text)
  on conflict (consumer) do update set position = excluded.position, updated_at = now()
)
select tollgate_usage_batch_new((select count(*) from ins), $10::int) as inserted`;

/**
 * Inserts the keys (dedupe); answers with the keys that were already stored (usually none: then
 * the anti-join is not evaluated), so their chunks, values and rollup deltas can be left out.
 */
const KEYS_SQL = `
with input as (
  select * from json_to_recordset($1::text::json) as x(source text, id text)
),
ins as (
  insert into usage_event_keys (source, id)
  select source, id from input
  on conflict do nothing
  returning source, id
)
select case when (select count(*) from ins) = $2::int then '[]'
  else (select coalesce(json_agg(json_build_array(i.source, i.id)), '[]'::json)::text
        from input i
        where not exists (select 1 from ins where ins.source = i.source and ins.id = i.id))
  end as skipped`;

/** SQLSTATE of the one-statement write when some events of the batch were already stored. */
export const BATCH_HAS_STORED_EVENTS = 'TG001';

/**
 * A text parameter sent as UTF-8 bytes (binary `text`): the drivers then copy the bytes instead of
 * measuring and encoding the string character by character, which on PGlite cost about a tenth
 * of ingest's CPU time. PGlite turns a `text` parameter into its wire value with `toString()`,
 * node-postgres with `toPostgres()`; both send a Uint8Array as a binary parameter.
 */
function bytesParam(text: string): unknown {
  const bytes = Buffer.from(text);
  return { toString: () => bytes, toPostgres: () => bytes };
}

/** A JSON parameter (see bytesParam); the SQL reads it as `$n::text::json`. */
const jsonParam = (value: unknown) => bytesParam(JSON.stringify(value));

/** The (source, id) keys of events, as the JSON parameter the key inserts read. */
const keysParam = (events: readonly UsageEvent[]) =>
  jsonParam(events.map((e) => ({ source: e.source, id: e.id })));

const byTime = <T extends { time: string }>(rows: readonly T[]): T[] => {
  const ms = new Map<T, number>();
  for (const r of rows) ms.set(r, Date.parse(r.time));
  return [...rows].sort((a, b) => (ms.get(a) as number) - (ms.get(b) as number));
};

interface ChunkBounds {
  min_time: string;
  max_time: string;
  count: number;
}

/** Rows sorted by time, cut into chunks of CHUNK_SIZE; `body` renders a chunk's rows as text. */
function chunked<T extends { time: string }>(
  rows: readonly T[],
  body: (slice: T[]) => string,
): { bounds: ChunkBounds[]; bodies: string[] } {
  const sorted = byTime(rows);
  const bounds: ChunkBounds[] = [];
  const bodies: string[] = [];
  for (let i = 0; i < sorted.length; i += CHUNK_SIZE) {
    const slice = sorted.slice(i, i + CHUNK_SIZE);
    bounds.push({
      min_time: (slice[0] as T).time,
      max_time: (slice[slice.length - 1] as T).time,
      count: slice.length,
    });
    bodies.push(body(slice));
  }
  return { bounds, bodies };
}

/** Several texts as one parameter, separated by U+001E (see CONTENT_CTES). */
const textsParam = (texts: string[]) => bytesParam(texts.join('\x1e'));

/** The parameters $1 … $8 of the chunks, values and rollups of new events. */
function contentParams(events: readonly UsageEvent[], values: readonly ValueRow[]): unknown[] {
  const eventChunks = chunked(events, (slice) => JSON.stringify(slice));
  const perMeter = new Map<number, ValueRow[]>();
  for (const v of values) {
    const list = perMeter.get(v.meter);
    if (list) list.push(v);
    else perMeter.set(v.meter, [v]);
  }
  const valueBounds: (ChunkBounds & { meter: number })[] = [];
  const valueBodies: string[] = [];
  for (const [meter, rows] of perMeter) {
    const { bounds, bodies } = chunked(rows, (slice) =>
      JSON.stringify(
        slice.map((v) => ({
          time: v.time,
          subject: v.subject,
          value: v.value,
          value_text: v.value_text,
          dims: v.dims,
        })),
      ),
    );
    for (const b of bounds) valueBounds.push({ meter, ...b });
    valueBodies.push(...bodies);
  }
  const { minute, hour, day, hourAll } = rollupDeltas(values);
  return [
    jsonParam(eventChunks.bounds),
    jsonParam(valueBounds),
    jsonParam(minute),
    jsonParam(hour),
    jsonParam(day),
    jsonParam(hourAll),
    textsParam(eventChunks.bodies),
    textsParam(valueBodies),
  ];
}

/** A batch with everything the one-statement write sends, computed before it is sent. */
export interface PreparedBatch {
  params: unknown[];
}

/**
 * Everything the one-statement write needs, computed on this thread while the database works on
 * the previous batch. `checkpoints` holds the last position per consumer.
 */
export function prepareBatch(
  events: readonly UsageEvent[],
  values: ValueRow[],
  checkpoints: readonly { consumer: string; position: string }[],
): PreparedBatch {
  const last = new Map(checkpoints.map((c) => [c.consumer, c]));
  return {
    params: [
      ...contentParams(events, values),
      keysParam(events),
      events.length,
      jsonParam([...last.values()]),
    ],
  };
}

/** Writes a prepared batch in one statement; throws TG001 (and writes nothing) on a stored event. */
export async function writePrepared(db: Executor, batch: PreparedBatch): Promise<void> {
  await run(db, ONE_STATEMENT_SQL, batch.params);
}

/**
 * Inserts a deduplicated batch; answers with the `source\u0000id` keys of the events that were
 * already stored (usually none). Run inside a transaction.
 */
export async function insertBatchSkipped(
  db: Executor,
  events: readonly UsageEvent[],
  values: ValueRow[],
): Promise<string[]> {
  if (events.length === 0) return [];
  const [row] = await run<{ skipped: string }>(db, KEYS_SQL, [keysParam(events), events.length]);
  const skipped = (JSON.parse(row?.skipped ?? '[]') as [string, string][]).map(
    ([source, id]) => `${source}\u0000${id}`,
  );
  let newEvents = events;
  let counted = values;
  if (skipped.length > 0) {
    const seen = new Set(skipped);
    newEvents = events.filter((e) => !seen.has(`${e.source}\u0000${e.id}`));
    counted = values.filter((v) => !seen.has(`${v.source}\u0000${v.id}`));
  }
  if (newEvents.length > 0) await run(db, CONTENT_SQL, contentParams(newEvents, counted));
  return skipped;
}

/** Adds values (and their rollups) of events already stored: a meter being rebuilt. */
export async function insertValuesOnly(db: Executor, values: ValueRow[]): Promise<void> {
  if (values.length === 0) return;
  await run(db, CONTENT_SQL, contentParams([], values));
}

export async function deleteMeterData(db: Executor, meterKey: number): Promise<void> {
  await run(db, 'delete from usage_value_chunks where meter = $1', [meterKey]);
  await run(db, 'delete from usage_value_subject_chunks where meter = $1', [meterKey]);
  await run(db, 'delete from usage_rollups_minute where meter = $1', [meterKey]);
  await run(db, 'delete from usage_rollups_hour where meter = $1', [meterKey]);
  for (const table of ['usage_rollups_day', 'usage_rollups_hour_all']) {
    await run(db, `delete from ${table} where meter = $1`, [meterKey]);
  }
}

export async function saveCheckpoint(db: Executor, consumer: string, position: string): Promise<void> {
  await run(
    db,
    `insert into usage_consumer_checkpoints (consumer, position, updated_at) values ($1, $2, now())
     on conflict (consumer) do update set position = excluded.position, updated_at = now()`,
    [consumer, position],
  );
}

export async function loadCheckpoint(store: Store, consumer: string): Promise<string | null> {
  const rows = await store.query<{ position: string }>(
    'select position from usage_consumer_checkpoints where consumer = $1',
    [consumer],
  );
  return rows[0]?.position ?? null;
}

/** Pages through the stored event chunks in insertion order (for rebuilding a meter). */
export async function eventChunksAfter(
  db: Executor,
  afterChunk: number,
  limit: number,
): Promise<{ id: number; events: UsageEvent[] }[]> {
  const rows = await run<{ id: string | number; events: string }>(
    db,
    'select id, events from usage_event_chunks where id > $1 order by id limit $2',
    [afterChunk, limit],
  );
  return rows.map((r) => ({ id: Number(r.id), events: JSON.parse(r.events) as UsageEvent[] }));
}
