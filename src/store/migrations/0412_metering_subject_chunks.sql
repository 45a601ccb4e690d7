-- Meter values ordered by subject, for reading one customer's values without unpacking every
-- value chunk of a period (a customer's take-rate invoice preview; issue 15). Value chunks hold
-- the values of whole batches, so every chunk of a period holds some of every busy customer's.
--
-- Compaction (src/metering/subject-compaction.ts) copies waiting value chunks into one chunk per
-- subject and marks them `compacted`, in one statement. A subject's values are then its subject
-- chunks plus the value chunks not compacted yet: exact at every moment. Other readers keep
-- reading usage_value_chunks, which still holds every value.

alter table usage_value_chunks add column if not exists compacted boolean not null default false;
create index if not exists usage_value_chunks_waiting on usage_value_chunks (meter, id) where not compacted;

create table if not exists usage_value_subject_chunks (
  id bigserial primary key,
  meter integer not null,
  subject text not null,
  min_time timestamptz not null,
  max_time timestamptz not null,
  count integer not null,
  -- JSON array of {time, value, value_text, dims}, sorted by time
  vals text not null
);
create index if not exists usage_value_subject_chunks_subject
  on usage_value_subject_chunks (meter, subject, max_time, min_time);
