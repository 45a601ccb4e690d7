-- Developer portal: users, sessions, password resets, invitations, the dev mailbox, budget alerts.
-- Every row that belongs to an organisation carries its customer_id; every portal query filters on it.

-- Organisations created by portal sign-up when no customers service is wired (embedded fallback).
create table if not exists portal_organisations (
  id text primary key,
  name text not null,
  email text not null,
  created_at timestamptz not null default now()
);

create table if not exists portal_users (
  id text primary key,
  customer_id text not null,
  email text not null,
  name text not null,
  password_hash text not null,
  role text not null check (role in ('owner', 'member')),
  created_at timestamptz not null default now()
);
create unique index if not exists portal_users_email on portal_users (lower(email));
create index if not exists portal_users_customer on portal_users (customer_id);

-- Only the SHA-256 of the session token is stored.
create table if not exists portal_sessions (
  token_hash text primary key,
  user_id text not null references portal_users (id) on delete cascade,
  customer_id text not null,
  created_at timestamptz not null default now(),
  expires_at timestamptz not null
);
create index if not exists portal_sessions_user on portal_sessions (user_id);

create table if not exists portal_password_resets (
  token_hash text primary key,
  user_id text not null references portal_users (id) on delete cascade,
  expires_at timestamptz not null,
  used_at timestamptz
);

create table if not exists portal_invitations (
  id text primary key,
  customer_id text not null,
  email text not null,
  role text not null check (role in ('owner', 'member')),
  token_hash text not null unique,
  invited_by text not null,
  created_at timestamptz not null default now(),
  expires_at timestamptz not null,
  accepted_at timestamptz
);
create index if not exists portal_invitations_customer on portal_invitations (customer_id);

-- Mail sent while no SMTP server is configured: printed to the log and kept here (dev mailbox).
create table if not exists portal_dev_mail (
  id text primary key,
  to_address text not null,
  subject text not null,
  text_body text not null,
  created_at timestamptz not null default now()
);

create table if not exists portal_budget_alerts (
  id text primary key,
  customer_id text not null,
  -- 'amount': cost to date in the period >= threshold (money); 'quota_percent': usage of a metered feature >= threshold %.
  kind text not null check (kind in ('amount', 'quota_percent')),
  threshold numeric not null,
  feature_key text,
  email boolean not null default true,
  webhook_url text,
  created_at timestamptz not null default now()
);
create index if not exists portal_budget_alerts_customer on portal_budget_alerts (customer_id);

-- One row per alert and billing period once it fired: the in-portal banner and "fire once" guard.
create table if not exists portal_alert_firings (
  alert_id text not null references portal_budget_alerts (id) on delete cascade,
  customer_id text not null,
  period_start timestamptz not null,
  message text not null,
  fired_at timestamptz not null default now(),
  dismissed_at timestamptz,
  primary key (alert_id, period_start)
);

-- Optional hard spend cap per organisation; the gateway refuses calls once cost to date reaches it.
create table if not exists portal_spend_caps (
  customer_id text primary key,
  amount numeric not null,
  currency text not null,
  updated_at timestamptz not null default now()
);
