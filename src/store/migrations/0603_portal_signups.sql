-- Sign-ups waiting for their address to be confirmed. Nothing else exists for them (no
-- organisation, no user, no session) until the mailed link is opened; only the SHA-256 of the
-- link's token is stored, and it works once, within 24 hours.
create table if not exists portal_signups (
  token_hash text primary key,
  email text not null,
  name text not null,
  organisation text not null,
  password_hash text not null,
  expires_at timestamptz not null,
  used_at timestamptz,
  created_at timestamptz not null default now()
);
create index if not exists portal_signups_expires on portal_signups (expires_at);
