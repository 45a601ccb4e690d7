-- Billing: invoices, lines, payments (charges with idempotency keys), rail customers,
-- prepaid credit ledger, processed rail webhook events, gapless counters.

create table if not exists billing_counters (
  name text primary key,
  value bigint not null
);

create table if not exists billing_invoices (
  id text primary key,
  number text unique,
  customer_id text not null,
  subscription_id text,
  -- one invoice per subscription period (billing run) or per one-off purpose (checkout, top-up)
  idempotency_key text not null unique,
  status text not null check (status in ('draft', 'issued', 'paid', 'void', 'uncollectible')),
  currency text not null,
  period_from timestamptz not null,
  period_to timestamptz not null,
  subtotal numeric(24, 8) not null default 0,
  tax_rate numeric(12, 8),
  tax numeric(24, 8) not null default 0,
  total numeric(24, 8) not null default 0,
  credits_applied numeric(24, 8) not null default 0,
  amount_due numeric(24, 8) not null default 0,
  rail text,
  issued_at timestamptz,
  due_at timestamptz,
  paid_at timestamptz,
  voided_at timestamptz,
  payment_attempts integer not null default 0,
  next_payment_attempt_at timestamptz,
  first_failed_at timestamptz,
  last_payment_error text,
  metadata jsonb not null default '{}',
  created_at timestamptz not null default now()
);
create index if not exists billing_invoices_customer on billing_invoices (customer_id, created_at desc);
create index if not exists billing_invoices_dunning on billing_invoices (status, next_payment_attempt_at);

create table if not exists billing_invoice_lines (
  invoice_id text not null references billing_invoices (id) on delete cascade,
  position integer not null,
  key text not null,
  kind text not null,
  description text not null,
  rate_card_key text,
  feature_key text,
  plan_key text,
  plan_version integer,
  period_from timestamptz not null,
  period_to timestamptz not null,
  quantity numeric(30, 12) not null,
  unit_price numeric(30, 12),
  amount numeric(24, 8) not null,
  tiers jsonb,
  primary key (invoice_id, position)
);

create table if not exists billing_payments (
  id text primary key,
  invoice_id text references billing_invoices (id),
  customer_id text not null,
  idempotency_key text not null unique,
  purpose text not null default 'invoice',
  rail text not null,
  status text not null check (status in ('pending', 'succeeded', 'failed', 'refunded')),
  amount numeric(24, 8) not null,
  currency text not null,
  rail_ref text,
  failure_code text,
  failure_message text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index if not exists billing_payments_invoice on billing_payments (invoice_id);
create index if not exists billing_payments_rail_ref on billing_payments (rail_ref);

create table if not exists billing_rail_customers (
  customer_id text not null,
  rail text not null,
  rail_customer_id text not null,
  payment_method_id text,
  payment_method_label text,
  created_at timestamptz not null default now(),
  primary key (customer_id, rail)
);

create table if not exists billing_rail_events (
  rail text not null,
  event_id text not null,
  type text not null,
  received_at timestamptz not null default now(),
  primary key (rail, event_id)
);

-- Prepaid credits: every movement is a row; the balance is a sum, never an edited number.
create table if not exists billing_credit_ledger (
  id text primary key,
  -- insertion order (several rows share a timestamp)
  seq bigserial not null,
  customer_id text not null,
  currency text not null,
  kind text not null check (kind in ('grant', 'topup', 'usage', 'expiry', 'refund', 'reservation', 'release')),
  amount numeric(24, 8) not null,
  -- the grant/top-up a drawdown, expiry or refund consumes; null on grants and top-ups
  grant_id text,
  expires_at timestamptz,
  invoice_id text,
  idempotency_key text unique,
  note text,
  created_at timestamptz not null default now()
);
create index if not exists billing_credit_ledger_customer on billing_credit_ledger (customer_id, currency);
create index if not exists billing_credit_ledger_grant on billing_credit_ledger (grant_id);

create table if not exists billing_credit_settings (
  customer_id text not null,
  currency text not null,
  -- credits-only customers are refused by the gateway (402) when their balance reaches zero
  credits_only boolean not null default false,
  auto_recharge_threshold numeric(24, 8),
  auto_recharge_amount numeric(24, 8),
  primary key (customer_id, currency)
);

-- Sandbox rail: its own "provider side" state, so it behaves like a remote rail.
create table if not exists billing_sandbox_charges (
  idempotency_key text primary key,
  id text not null unique,
  customer_ref text not null,
  amount numeric(24, 8) not null,
  currency text not null,
  status text not null,
  failure_code text,
  created_at timestamptz not null default now()
);
