-- Usage metering: raw CloudEvents (deduplicated on source + id), per-meter values extracted at
-- ingest, and minute/hour rollups maintained in the same transaction as the insert.

create table if not exists metering_meters (
  key serial primary key,
  id text not null unique,
  slug text not null unique,
  fingerprint text not null,
  definition jsonb not null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

create table if not exists usage_events (
  source text not null,
  id text not null,
  type text not null,
  subject text not null,
  time timestamptz not null,
  data jsonb not null,
  ingested_at timestamptz not null default now(),
  primary key (source, id)
);

-- One row per (event, meter it matches). value: numeric aggregations (1 for COUNT);
-- value_text: UNIQUE_COUNT. dims: the meter's group-by values ({} when none).
create table if not exists usage_meter_values (
  meter integer not null,
  time timestamptz not null,
  subject text not null,
  value numeric,
  value_text text,
  dims jsonb not null
);
create index if not exists usage_meter_values_meter_time on usage_meter_values (meter, time);

-- Rollups per meter × bucket × subject × group-by combination. AVG = sum / count; LATEST is the
-- value at latest_time. UNIQUE_COUNT meters have no rollups (distinct counts do not add up).
create table if not exists usage_rollups_minute (
  meter integer not null,
  bucket timestamptz not null,
  subject text not null,
  dims jsonb not null,
  sum numeric not null,
  count bigint not null,
  min numeric not null,
  max numeric not null,
  latest_time timestamptz not null,
  latest_value numeric not null,
  primary key (meter, bucket, subject, dims)
);

create table if not exists usage_rollups_hour (
  meter integer not null,
  bucket timestamptz not null,
  subject text not null,
  dims jsonb not null,
  sum numeric not null,
  count bigint not null,
  min numeric not null,
  max numeric not null,
  latest_time timestamptz not null,
  latest_value numeric not null,
  primary key (meter, bucket, subject, dims)
);

-- Where each usage log consumer is, written in the same transaction as the batch it consumed.
create table if not exists usage_consumer_checkpoints (
  consumer text primary key,
  position text not null,
  updated_at timestamptz not null default now()
);
