-- Raw usage events and extracted meter values are stored in chunks of up to 1,000 (JSON arrays
-- sorted by time, with their time range), not one row each. Ingest cost in the database is per
-- row: a row per event plus a row per meter value was most of it. Deduplication keeps one narrow
-- row per event: the (source, id) key.
--
-- Readers that want rows get them from the views `usage_events` and `usage_meter_values`, which
-- unpack the chunks; the meter reader narrows to the chunks whose time range overlaps first.

create table if not exists usage_event_keys (
  source text not null,
  id text not null,
  primary key (source, id)
);

create table if not exists usage_event_chunks (
  id bigserial primary key,
  min_time timestamptz not null,
  max_time timestamptz not null,
  count integer not null,
  ingested_at timestamptz not null default now(),
  -- JSON array of CloudEvents {specversion, id, source, type, subject, time, data}
  events text not null
);
create index if not exists usage_event_chunks_time on usage_event_chunks (max_time, min_time);

create table if not exists usage_value_chunks (
  id bigserial primary key,
  meter integer not null,
  min_time timestamptz not null,
  max_time timestamptz not null,
  count integer not null,
  -- JSON array of {time, subject, value, value_text, dims}
  vals text not null
);
create index if not exists usage_value_chunks_meter_time on usage_value_chunks (meter, max_time, min_time);

-- Move what the per-row tables hold.
insert into usage_event_keys (source, id) select source, id from usage_events on conflict do nothing;

insert into usage_event_chunks (min_time, max_time, count, ingested_at, events)
select min(time), max(time), count(*), max(ingested_at),
       json_agg(json_build_object('specversion', '1.0', 'id', id, 'source', source, 'type', type,
                                  'subject', subject, 'time', time, 'data', data) order by time)::text
from (select *, (row_number() over (order by time, source, id) - 1) / 1000 as chunk from usage_events) e
group by chunk;

insert into usage_value_chunks (meter, min_time, max_time, count, vals)
select meter, min(time), max(time), count(*),
       json_agg(json_build_object('time', time, 'subject', subject, 'value', value,
                                  'value_text', value_text, 'dims', dims) order by time)::text
from (select *, (row_number() over (partition by meter order by time) - 1) / 1000 as chunk
      from usage_meter_values) v
group by meter, chunk;

drop table usage_events;
drop table usage_meter_values;

create view usage_events as
select e.source, e.id, e.type, e.subject, e.time, e.data, c.ingested_at
from usage_event_chunks c
cross join lateral json_to_recordset(c.events::json)
  as e(source text, id text, type text, subject text, time timestamptz, data jsonb);

create view usage_meter_values as
select c.meter, v.time, v.subject, v.value, v.value_text, v.dims
from usage_value_chunks c
cross join lateral json_to_recordset(c.vals::json)
  as v(time timestamptz, subject text, value numeric, value_text text, dims jsonb);
