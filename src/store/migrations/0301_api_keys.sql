-- API keys: only the SHA-256 hash of the secret is stored; `prefix` is the readable start shown in lists.
-- customer_id / subscription_id are plain text (no foreign keys across modules).
create table if not exists api_keys (
  id text primary key,
  customer_id text not null,
  subscription_id text,
  name text not null default '',
  prefix text not null,
  hash text not null unique,
  metadata jsonb not null default '{}'::jsonb,
  created_at timestamptz not null default now(),
  expires_at timestamptz,
  revoked_at timestamptz,
  last_used_at timestamptz,
  rolled_to text
);
create index if not exists api_keys_customer_idx on api_keys (customer_id, created_at);
