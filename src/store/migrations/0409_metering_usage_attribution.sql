-- OpenMeter's usage attribution on Tollgate's own customers: a customer's usage is metered under
-- its id (what the gateway writes as the event subject) and under any further subject keys set
-- through `usageAttribution.subjectKeys` of the OpenMeter-compatible customers API. A subject key
-- belongs to one customer at most.
create table if not exists customer_subject_keys (
  subject_key text primary key,
  customer_id text not null references customers (id),
  created_at timestamptz not null default now()
);
create index if not exists customer_subject_keys_customer on customer_subject_keys (customer_id);
