import { CompiledQuery, type Kysely } from 'kysely';
import type { BaseDatabase, Store } from '../store/index.ts';
import type { UsageEvent } from './events.ts';
import type { MeterValue } from './model.ts';

/**
 * SQL of metering. Ingest is one statement per batch: insert the events (dedupe on source + id),
 * and only for the rows actually inserted, insert the meter values and add them to the minute and
 * hour rollups. Dedupe happens first, so a replayed batch changes nothing. Batches travel as one
 * JSON parameter (json_to_recordset): on PGlite that is markedly faster than one array per column.
 */

export type Executor = Kysely<BaseDatabase>;

export async function run<Row>(db: Executor, text: string, params: readonly unknown[] = []): Promise<Row[]> {
  const result = await db.executeQuery<Row>(CompiledQuery.raw(text, [...params]));
  return result.rows;
}

const rollup = (name: string, table: string, unit: 'minute' | 'hour') => `
${name} as (
  insert into ${table} as r (meter, bucket, subject, dims, sum, count, min, max, latest_time, latest_value)
  select meter, date_trunc('${unit}', time, 'UTC'), subject, dims, sum(value), count(*), min(value), max(value),
         max(time), (array_agg(value order by time desc))[1]
  from vals where value is not null
  group by 1, 2, 3, 4
  on conflict (meter, bucket, subject, dims) do update set
    sum = r.sum + excluded.sum,
    count = r.count + excluded.count,
    min = least(r.min, excluded.min),
    max = greatest(r.max, excluded.max),
    latest_value = case when excluded.latest_time >= r.latest_time then excluded.latest_value else r.latest_value end,
    latest_time = greatest(r.latest_time, excluded.latest_time)
)`;

const VALUES_COLUMNS = `source text, id text, meter int, subject text, time timestamptz, value numeric, value_text text, dims jsonb`;

const INGEST_SQL = `
with input as (
  select * from json_to_recordset($1::json)
    as x(source text, id text, type text, subject text, time timestamptz, data jsonb)
),
ins as (
  insert into usage_events (source, id, type, subject, time, data)
  select source, id, type, subject, time, data from input
  on conflict do nothing
  returning source, id
),
vals as materialized (
  select v.meter, v.time, v.subject, v.value, v.value_text, v.dims
  from json_to_recordset($2::json) as v(${VALUES_COLUMNS})
  join ins on ins.source = v.source and ins.id = v.id
),
mv as (
  insert into usage_meter_values (meter, time, subject, value, value_text, dims)
  select meter, time, subject, value, value_text, dims from vals
),
${rollup('rm', 'usage_rollups_minute', 'minute')},
${rollup('rh', 'usage_rollups_hour', 'hour')}
select count(*)::int as inserted from ins`;

/** For rebuilding a meter from stored events: values and rollups only. */
const VALUES_ONLY_SQL = `
with vals as materialized (
  select v.meter, v.time, v.subject, v.value, v.value_text, v.dims
  from json_to_recordset($1::json) as v(${VALUES_COLUMNS})
),
mv as (
  insert into usage_meter_values (meter, time, subject, value, value_text, dims)
  select meter, time, subject, value, value_text, dims from vals
),
${rollup('rm', 'usage_rollups_minute', 'minute')},
${rollup('rh', 'usage_rollups_hour', 'hour')}
select count(*)::int as inserted from vals`;

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
  if (events.length === 0) return 0;
  const rows = await run<{ inserted: number }>(db, INGEST_SQL, [
    JSON.stringify(events),
    JSON.stringify(values),
  ]);
  return rows[0]?.inserted ?? 0;
}

export async function insertValuesOnly(db: Executor, values: ValueRow[]): Promise<void> {
  if (values.length === 0) return;
  await run(db, VALUES_ONLY_SQL, [JSON.stringify(values)]);
}

export async function deleteMeterData(db: Executor, meterKey: number): Promise<void> {
  await run(db, 'delete from usage_meter_values where meter = $1', [meterKey]);
  await run(db, 'delete from usage_rollups_minute where meter = $1', [meterKey]);
  await run(db, 'delete from usage_rollups_hour where meter = $1', [meterKey]);
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
