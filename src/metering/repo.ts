import { Decimal } from 'decimal.js';
import { CompiledQuery, type Kysely } from 'kysely';
import type { BaseDatabase, Store } from '../store/index.ts';
import type { UsageEvent } from './events.ts';
import type { MeterValue } from './model.ts';

/**
 * SQL of metering. Ingest is one statement per batch: insert the events (dedupe on source + id),
 * and only for the rows actually inserted, insert the meter values and add them to the minute and
 * hour rollups (and UTC day rollups). Dedupe happens first, so a replayed batch changes nothing. Batches travel as one
 * JSON parameter (json_to_recordset): on PGlite that is markedly faster than one array per column.
 */

export type Executor = Kysely<BaseDatabase>;

export async function run<Row>(db: Executor, text: string, params: readonly unknown[] = []): Promise<Row[]> {
  const result = await db.executeQuery<Row>(CompiledQuery.raw(text, [...params]));
  return result.rows;
}

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

const VALUES_COLUMNS = `meter int, subject text, time timestamptz, value numeric, value_text text, dims jsonb`;

/** The meter values of the events actually inserted, and their rollup deltas: one statement. */
const VALUES_ROLLUPS_SQL = `
with mv as (
  insert into usage_meter_values (meter, time, subject, value, value_text, dims)
  select meter, time, subject, value, value_text, dims from json_to_recordset($5::text::json) as v(${VALUES_COLUMNS})
),
${upsertRollup('rm', 'usage_rollups_minute', '$1')},
${upsertRollup('rh', 'usage_rollups_hour', '$2')},
${upsertRollup('rd', 'usage_rollups_day', '$3')},
${upsertRollup('ah', 'usage_rollups_hour_all', '$4')}
select 1`;

/**
 * Inserts the events (dedupe); answers with the (source, id) of the events that were already
 * stored (usually none: then the anti-join is not evaluated), so their values and rollup deltas
 * can be left out.
 */
const INGEST_SQL = `
with input as (
  select * from json_to_recordset($1::text::json)
    as x(source text, id text, type text, subject text, time timestamptz, data jsonb)
),
ins as (
  insert into usage_events (source, id, type, subject, time, data)
  select source, id, type, subject, time, data from input
  on conflict do nothing
  returning source, id
)
select case when (select count(*) from ins) = $2::int then '[]'
  else (select coalesce(json_agg(json_build_array(i.source, i.id)), '[]'::json)::text
        from input i
        where not exists (select 1 from ins where ins.source = i.source and ins.id = i.id))
  end as skipped`;

/**
 * The whole batch in one statement, for batches whose events are all new: events, meter values,
 * rollup deltas and consumer checkpoints. It ends by asserting that every event was inserted; if
 * one was already stored the statement fails with TG001 and changes nothing (0407 migration).
 * One statement is one round trip to the embedded database's thread and atomic on its own.
 */
const ONE_STATEMENT_SQL = `
with ins as (
  insert into usage_events (source, id, type, subject, time, data)
  select source, id, type, subject, time, data from json_to_recordset($1::text::json)
    as x(source text, id text, type text, subject text, time timestamptz, data jsonb)
  on conflict do nothing
  returning 1
),
mv as (
  insert into usage_meter_values (meter, time, subject, value, value_text, dims)
  select meter, time, subject, value, value_text, dims from json_to_recordset($3::text::json) as v(${VALUES_COLUMNS})
),
${upsertRollup('rm', 'usage_rollups_minute', '$4')},
${upsertRollup('rh', 'usage_rollups_hour', '$5')},
${upsertRollup('rd', 'usage_rollups_day', '$6')},
${upsertRollup('ah', 'usage_rollups_hour_all', '$7')},
cp as (
  insert into usage_consumer_checkpoints (consumer, position, updated_at)
  select consumer, position, now() from json_to_recordset($8::text::json) as c(consumer text, position text)
  on conflict (consumer) do update set position = excluded.position, updated_at = now()
)
select tollgate_usage_batch_new((select count(*) from ins), $2::int) as inserted`;

/** SQLSTATE of the one-statement write when some events of the batch were already stored. */
export const BATCH_HAS_STORED_EVENTS = 'TG001';

/** A batch with everything the one-statement write sends, computed before it is sent. */
export interface PreparedBatch {
  events: readonly UsageEvent[];
  values: ValueRow[];
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
  const { minute, hour, day, hourAll } = rollupDeltas(values);
  const last = new Map(checkpoints.map((c) => [c.consumer, c]));
  return {
    events,
    values,
    params: [
      jsonParam(events),
      events.length,
      jsonParam(values),
      jsonParam(minute),
      jsonParam(hour),
      jsonParam(day),
      jsonParam(hourAll),
      jsonParam([...last.values()]),
    ],
  };
}

/** Writes a prepared batch in one statement; throws TG001 (and writes nothing) on a stored event. */
export async function writePrepared(db: Executor, batch: PreparedBatch): Promise<void> {
  await run(db, ONE_STATEMENT_SQL, batch.params);
}

/**
 * A JSON parameter sent as UTF-8 bytes (binary `text`): the drivers then copy the bytes instead of
 * measuring and encoding the string character by character, which on PGlite cost about a tenth
 * of ingest's CPU time. PGlite turns a `text` parameter into its wire value with `toString()`,
 * node-postgres with `toPostgres()`; both send a Uint8Array as a binary parameter. The SQL reads
 * it as `$n::text::json`.
 */
function jsonParam(value: unknown): unknown {
  const bytes = Buffer.from(JSON.stringify(value));
  return { toString: () => bytes, toPostgres: () => bytes };
}

export interface ValueRow {
  source: string;
  id: string;
  meter: number;
  subject: string;
  time: string;
  value: string | null;
  value_text: string | null;
  dims: Record<string, string>;
}

export function valueRow(event: UsageEvent, value: MeterValue): ValueRow {
  return {
    source: event.source,
    id: event.id,
    meter: value.meter,
    subject: event.subject,
    time: event.time,
    value: value.value,
    value_text: value.valueText,
    dims: value.dims,
  };
}

/** Inserts a deduplicated batch; returns how many events were new. Run inside a transaction. */
export async function insertBatch(
  db: Executor,
  events: readonly UsageEvent[],
  values: ValueRow[],
): Promise<number> {
  return events.length - (await insertBatchSkipped(db, events, values)).length;
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
  const [row] = await run<{ skipped: string }>(db, INGEST_SQL, [jsonParam(events), events.length]);
  const skipped = (JSON.parse(row?.skipped ?? '[]') as [string, string][]).map(
    ([source, id]) => `${source}\u0000${id}`,
  );
  let counted = values;
  if (skipped.length > 0) {
    const seen = new Set(skipped);
    counted = values.filter((v) => !seen.has(`${v.source}\u0000${v.id}`));
  }
  await upsertRollups(db, counted);
  return skipped;
}

export async function insertValuesOnly(db: Executor, values: ValueRow[]): Promise<void> {
  if (values.length === 0) return;
  await upsertRollups(db, values);
}

async function upsertRollups(db: Executor, values: readonly ValueRow[]): Promise<void> {
  if (values.length === 0) return;
  const { minute, hour, day, hourAll } = rollupDeltas(values);
  await run(db, VALUES_ROLLUPS_SQL, [
    jsonParam(minute),
    jsonParam(hour),
    jsonParam(day),
    jsonParam(hourAll),
    jsonParam(values),
  ]);
}

interface RollupDelta {
  meter: number;
  bucket: string;
  subject: string;
  dims: Record<string, string>;
  sum: string;
  count: number;
  min: string;
  max: string;
  latest_time: string;
  latest_value: string;
}

interface Accumulator {
  row: RollupDelta;
  /** Exact while every value is an integer and the sum stays a safe integer; else Decimal. */
  intSum: number | null;
  decSum: Decimal | null;
  minN: number;
  maxN: number;
  latestMs: number;
}

const INTEGER = /^-?\d+$/;

/**
 * The batch's contribution to each minute, hour and UTC day bucket per subject, and to each hour
 * bucket over all subjects (subject `*`, see reader.ts), computed here rather than in SQL
 * (grouping in the embedded database costs more than the whole insert). Sums are exact: integers
 * add as numbers while they stay safe, anything else through Decimal.
 */
export function rollupDeltas(values: readonly ValueRow[]): {
  minute: RollupDelta[];
  hour: RollupDelta[];
  day: RollupDelta[];
  hourAll: RollupDelta[];
} {
  const minute = new Map<string, Accumulator>();
  const hour = new Map<string, Accumulator>();
  const day = new Map<string, Accumulator>();
  const hourAll = new Map<string, Accumulator>();
  for (const v of values) {
    const value = v.value;
    if (value === null) continue;
    const ms = Date.parse(v.time);
    const n = Number(value);
    const int = Number.isSafeInteger(n) && INTEGER.test(value);
    const rest = `|${v.subject}|${JSON.stringify(v.dims)}`;
    const m = ms - (((ms % 60_000) + 60_000) % 60_000);
    const h = ms - (((ms % 3_600_000) + 3_600_000) % 3_600_000);
    const d = ms - (((ms % 86_400_000) + 86_400_000) % 86_400_000);
    add(minute, `${v.meter}|${m}${rest}`, v, v.subject, value, m, ms, n, int);
    add(hour, `${v.meter}|${h}${rest}`, v, v.subject, value, h, ms, n, int);
    add(day, `${v.meter}|${d}${rest}`, v, v.subject, value, d, ms, n, int);
    add(hourAll, `${v.meter}|${h}|*|${JSON.stringify(v.dims)}`, v, '*', value, h, ms, n, int);
  }
  return { minute: finish(minute), hour: finish(hour), day: finish(day), hourAll: finish(hourAll) };
}

function add(
  map: Map<string, Accumulator>,
  key: string,
  v: ValueRow,
  subject: string,
  value: string,
  bucketMs: number,
  ms: number,
  n: number,
  int: boolean,
) {
  const acc = map.get(key);
  if (!acc) {
    map.set(key, {
      row: {
        meter: v.meter,
        bucket: new Date(bucketMs).toISOString(),
        subject,
        dims: v.dims,
        sum: value,
        count: 1,
        min: value,
        max: value,
        latest_time: v.time,
        latest_value: value,
      },
      intSum: int ? n : null,
      decSum: int ? null : new Decimal(value),
      minN: n,
      maxN: n,
      latestMs: ms,
    });
    return;
  }
  acc.row.count += 1;
  if (acc.intSum !== null && int && Number.isSafeInteger(acc.intSum + n)) {
    acc.intSum += n;
  } else {
    acc.decSum = (acc.decSum ?? new Decimal(acc.intSum ?? 0)).plus(value);
    acc.intSum = null;
  }
  if (n < acc.minN) {
    acc.minN = n;
    acc.row.min = value;
  }
  if (n > acc.maxN) {
    acc.maxN = n;
    acc.row.max = value;
  }
  if (ms >= acc.latestMs) {
    acc.latestMs = ms;
    acc.row.latest_time = v.time;
    acc.row.latest_value = value;
  }
}

/** Sorted by key, so concurrent writers (PostgreSQL, several workers) lock rows in one order. */
function finish(map: Map<string, Accumulator>): RollupDelta[] {
  const keys = [...map.keys()].sort();
  return keys.map((key) => {
    const acc = map.get(key) as Accumulator;
    acc.row.sum = acc.intSum !== null ? String(acc.intSum) : (acc.decSum as Decimal).toFixed();
    return acc.row;
  });
}

export async function deleteMeterData(db: Executor, meterKey: number): Promise<void> {
  await run(db, 'delete from usage_meter_values where meter = $1', [meterKey]);
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

export interface StoredEventRow {
  source: string;
  id: string;
  type: string;
  subject: string;
  time: Date;
  data: Record<string, unknown>;
}

/** Pages through stored events of one type in (source, id) order, for rebuilding a meter. */
export async function eventsOfType(
  db: Executor,
  type: string,
  after: { source: string; id: string } | null,
  limit: number,
): Promise<StoredEventRow[]> {
  return after
    ? run<StoredEventRow>(
        db,
        `select source, id, type, subject, time, data from usage_events
         where type = $1 and (source, id) > ($2, $3) order by source, id limit $4`,
        [type, after.source, after.id, limit],
      )
    : run<StoredEventRow>(
        db,
        `select source, id, type, subject, time, data from usage_events
         where type = $1 order by source, id limit $2`,
        [type, limit],
      );
}

export interface EventFilter {
  subject?: string;
  /** Substring of the event id. */
  id?: string;
  from?: Date;
  to?: Date;
  limit: number;
}

export interface ListedEventRow extends StoredEventRow {
  ingested_at: Date;
}

/** Newest first (by event time), for `GET /api/v1/events`. */
export async function listEvents(store: Store, filter: EventFilter): Promise<ListedEventRow[]> {
  const where: string[] = [];
  const params: unknown[] = [];
  const p = (v: unknown) => {
    params.push(v);
    return `$${params.length}`;
  };
  if (filter.subject) where.push(`subject = ${p(filter.subject)}`);
  if (filter.id) where.push(`strpos(id, ${p(filter.id)}) > 0`);
  if (filter.from) where.push(`time >= ${p(filter.from.toISOString())}::timestamptz`);
  if (filter.to) where.push(`time < ${p(filter.to.toISOString())}::timestamptz`);
  return store.query<ListedEventRow>(
    `select source, id, type, subject, time, data, ingested_at from usage_events
     ${where.length ? `where ${where.join(' and ')}` : ''} order by time desc, id limit ${p(filter.limit)}`,
    params,
  );
}
