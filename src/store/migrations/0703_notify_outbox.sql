-- Webhooks as an outbox (issue 17): endpoints that can be disabled with a reason, secrets that
-- rotate with an overlap, endpoints a customer owns (budget alerts), every attempt logged.
alter table notify_endpoints add column if not exists disabled_reason text;
alter table notify_endpoints add column if not exists disabled_at timestamptz;
alter table notify_endpoints add column if not exists failure_streak integer not null default 0;
alter table notify_endpoints add column if not exists failing_since timestamptz;
alter table notify_endpoints add column if not exists previous_secret text;
alter table notify_endpoints add column if not exists previous_secret_expires_at timestamptz;
-- Set for a customer's own endpoint: it receives only that customer's events of its types.
alter table notify_endpoints add column if not exists customer_id text;
-- A customer endpoint is delivered to only once the customer was shown its secret.
alter table notify_endpoints add column if not exists secret_shown_at timestamptz;
alter table notify_endpoints add column if not exists updated_at timestamptz;
-- What created a customer endpoint (`budget-alert:<alert id>`), so it goes when that goes.
alter table notify_endpoints add column if not exists source text;
create index if not exists notify_endpoints_customer on notify_endpoints (customer_id) where customer_id is not null;

-- The customer an event is about (customer endpoints receive only theirs).
alter table notify_messages add column if not exists customer_id text;

alter table notify_deliveries add column if not exists last_attempt_at timestamptz;
create index if not exists notify_deliveries_endpoint on notify_deliveries (endpoint_id, created_at desc);

create table if not exists notify_attempts (
  id text primary key,
  delivery_id text not null references notify_deliveries (id) on delete cascade,
  attempted_at timestamptz not null,
  status_code integer,
  error text,
  duration_ms integer not null
);
create index if not exists notify_attempts_delivery on notify_attempts (delivery_id, attempted_at);
