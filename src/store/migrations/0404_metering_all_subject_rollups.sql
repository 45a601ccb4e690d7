-- Rollups summed over all subjects (subject is always '*'): queries that neither filter nor group
-- by subject (dashboards, "all customers by day in Europe/Berlin") read one row per bucket and
-- group-by combination instead of one per customer. Backfilled from the per-subject rollups.
create table if not exists usage_rollups_minute_all (like usage_rollups_minute including all);
create table if not exists usage_rollups_hour_all (like usage_rollups_hour including all);
create table if not exists usage_rollups_day_all (like usage_rollups_day including all);

insert into usage_rollups_minute_all (meter, bucket, subject, dims, sum, count, min, max, latest_time, latest_value)
select meter, bucket, '*', dims, sum(sum), sum(count), min(min), max(max), max(latest_time),
       (array_agg(latest_value order by latest_time desc))[1]
from usage_rollups_minute group by meter, bucket, dims
on conflict do nothing;

insert into usage_rollups_hour_all (meter, bucket, subject, dims, sum, count, min, max, latest_time, latest_value)
select meter, bucket, '*', dims, sum(sum), sum(count), min(min), max(max), max(latest_time),
       (array_agg(latest_value order by latest_time desc))[1]
from usage_rollups_hour group by meter, bucket, dims
on conflict do nothing;

insert into usage_rollups_day_all (meter, bucket, subject, dims, sum, count, min, max, latest_time, latest_value)
select meter, bucket, '*', dims, sum(sum), sum(count), min(min), max(max), max(latest_time),
       (array_agg(latest_value order by latest_time desc))[1]
from usage_rollups_day group by meter, bucket, dims
on conflict do nothing;
