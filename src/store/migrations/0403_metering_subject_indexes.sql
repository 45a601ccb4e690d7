-- Per-customer reads (billing periods, entitlement balances, the portal's usage page) filter by
-- subject over long ranges: index the hour and day rollups subject-first as well.
create index if not exists usage_rollups_hour_subject on usage_rollups_hour (meter, subject, bucket);
create index if not exists usage_rollups_day_subject on usage_rollups_day (meter, subject, bucket);
