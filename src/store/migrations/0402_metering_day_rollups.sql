-- Day rollups (UTC days): whole-range and daily queries read one row per meter × day × subject ×
-- group-by combination instead of 24 hour rows.
create table if not exists usage_rollups_day (
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
