-- Keep only the all-subjects hour rollup: it is what time-zone day windows over all customers
-- need; the minute and day ones cost ingest time (one more upsert per batch each) for little gain.
drop table if exists usage_rollups_minute_all;
drop table if exists usage_rollups_day_all;
