-- Settings that belong to the installation (e.g. the admin token hash, the invoice number sequence seed).
create table if not exists tollgate_settings (
  key text primary key,
  value jsonb not null,
  updated_at timestamptz not null default now()
);
