-- A usage batch is written in one statement when none of its events is stored yet (the usual
-- case): events, meter values, rollups and the consumer checkpoint together. The statement ends
-- with this check; when some events were already stored it fails, so nothing of it is kept, and
-- the batch is written again by the path that leaves the stored events out.
create or replace function tollgate_usage_batch_new(inserted bigint, expected int) returns int
language plpgsql as $$
begin
  if inserted <> expected then
    raise exception using errcode = 'TG001', message = 'the usage batch holds events that are already stored';
  end if;
  return expected;
end $$;
