-- Outgoing webhooks (Standard Webhooks) and the dev mailbox.
create table if not exists notify_endpoints (
  id text primary key,
  url text not null,
  secret text not null,
  event_types jsonb not null default '[]',
  description text,
  enabled boolean not null default true,
  created_at timestamptz not null default now()
);

create table if not exists notify_messages (
  id text primary key,
  type text not null,
  payload jsonb not null,
  created_at timestamptz not null default now()
);

create table if not exists notify_deliveries (
  id text primary key,
  endpoint_id text not null references notify_endpoints (id) on delete cascade,
  message_id text not null references notify_messages (id),
  status text not null check (status in ('pending', 'succeeded', 'failed')),
  attempts integer not null default 0,
  next_attempt_at timestamptz,
  last_status_code integer,
  last_error text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (endpoint_id, message_id)
);
create index if not exists notify_deliveries_due on notify_deliveries (status, next_attempt_at);

create table if not exists notify_mailbox (
  id text primary key,
  to_address text not null,
  subject text not null,
  text_body text not null,
  html_body text,
  created_at timestamptz not null default now()
);
