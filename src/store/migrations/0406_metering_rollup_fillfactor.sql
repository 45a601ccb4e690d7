-- Rollup rows are updated in place by every batch that touches their bucket. Leaving room on each
-- page lets PostgreSQL keep the new row version on the same page (a HOT update: no new index
-- entries, the old version pruned without VACUUM), which is most of what an upsert costs.
alter table usage_rollups_minute set (fillfactor = 50);
alter table usage_rollups_hour set (fillfactor = 50);
alter table usage_rollups_day set (fillfactor = 50);
alter table usage_rollups_hour_all set (fillfactor = 50);
