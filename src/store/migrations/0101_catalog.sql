-- Catalog: features and versioned plans. A plan version's definition is the normalized plan of
-- tollgate.config.ts (phases explicit, rate cards with price + entitlement template) as JSONB;
-- published versions are never edited: a changed plan publishes version N+1.
create table if not exists catalog_features (
  key text primary key,
  name text not null,
  description text,
  meter text,
  meter_group_by_filters jsonb not null default '{}'::jsonb,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  -- Set when the feature left the config; kept because published plan versions may refer to it.
  archived_at timestamptz
);

create table if not exists catalog_plans (
  key text primary key,
  name text not null,
  latest_version integer not null,
  -- Order of the plan in the config: the pricing page shows plans in this order.
  position integer not null default 0,
  status text not null default 'active' check (status in ('active', 'archived')),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  archived_at timestamptz
);

create table if not exists catalog_plan_versions (
  id text primary key,
  plan_key text not null references catalog_plans (key) on delete cascade,
  version integer not null,
  definition jsonb not null,
  -- sha256 of the canonical JSON of the definition: "unchanged" is a hash comparison.
  definition_hash text not null,
  published_at timestamptz not null,
  unique (plan_key, version)
);
