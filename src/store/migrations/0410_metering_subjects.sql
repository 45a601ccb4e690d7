-- OpenMeter's subjects (`/api/v1/subjects`): a display name and metadata for a subject key. Usage
-- is metered under subject keys whether or not a subject record exists, as in OpenMeter.
create table if not exists metering_subjects (
  key text primary key,
  id text not null unique,
  display_name text,
  metadata jsonb not null default '{}'::jsonb,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
