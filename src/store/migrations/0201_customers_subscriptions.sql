-- Customers (organisations) and their subscriptions to plan versions.
create table if not exists customers (
  id text primary key,
  name text not null,
  email text,
  currency text not null default 'USD',
  metadata jsonb not null default '{}'::jsonb,
  -- Address, tax id, … (free-form until billing needs structure).
  billing_details jsonb not null default '{}'::jsonb,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  -- Soft delete: invoices and usage keep their customer.
  deleted_at timestamptz
);
create index if not exists customers_email on customers (lower(email));

create table if not exists subscriptions (
  id text primary key,
  customer_id text not null references customers (id),
  plan_key text not null,
  plan_version integer not null,
  plan_version_id text not null references catalog_plan_versions (id),
  status text not null check (status in ('trialing', 'active', 'past_due', 'suspended', 'canceled')),
  started_at timestamptz not null,
  current_period_start timestamptz not null,
  current_period_end timestamptz not null,
  -- [{ key, from, to, trial }] with ISO dates; the last phase has to = null.
  phases jsonb not null,
  cancel_at_period_end boolean not null default false,
  canceled_at timestamptz,
  ended_at timestamptz,
  -- A scheduled change (downgrade at period end): { planKey, version, planVersionId, effectiveAt }.
  pending_change jsonb,
  -- Contract: per-customer overrides of the plan's limits and prices (see subscriptions/contracts.ts).
  overrides jsonb not null default '{}'::jsonb,
  metadata jsonb not null default '{}'::jsonb,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index if not exists subscriptions_customer on subscriptions (customer_id);
create index if not exists subscriptions_plan on subscriptions (plan_key, plan_version);
create index if not exists subscriptions_period_end on subscriptions (current_period_end) where status <> 'canceled';

-- Which plan version was in force when, for proration by second: [from, to), to = null while current.
create table if not exists subscription_segments (
  id text primary key,
  subscription_id text not null references subscriptions (id) on delete cascade,
  plan_key text not null,
  plan_version integer not null,
  plan_version_id text not null references catalog_plan_versions (id),
  overrides jsonb not null default '{}'::jsonb,
  "from" timestamptz not null,
  "to" timestamptz,
  reason text not null
);
create index if not exists subscription_segments_subscription on subscription_segments (subscription_id, "from");

-- Billing periods as they were closed by rollover: what billing invoices.
create table if not exists subscription_periods (
  subscription_id text not null references subscriptions (id) on delete cascade,
  period_start timestamptz not null,
  period_end timestamptz not null,
  closed_at timestamptz,
  primary key (subscription_id, period_start)
);
create index if not exists subscription_periods_open on subscription_periods (period_end) where closed_at is null;
