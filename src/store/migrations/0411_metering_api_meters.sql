-- Meters created through the OpenMeter-compatible API (`POST /api/v1/meters`) live next to the
-- config's meters: `origin` says which ('config' or 'api'); API meters are deleted softly
-- (`deleted_at`), keep their slug reserved, and are listed with `includeDeleted=true`.
alter table metering_meters add column if not exists origin text not null default 'config';
alter table metering_meters add column if not exists deleted_at timestamptz;
