-- usage.threshold events sent: one per customer, metered feature, usage period and threshold (%).
-- Recorded in the transaction that stores the event, so no restart or second worker repeats one.
create table if not exists notify_usage_thresholds (
  customer_id text not null,
  feature_key text not null,
  period_start timestamptz not null,
  threshold integer not null,
  subscription_id text,
  usage numeric not null,
  limit_value numeric not null,
  crossed_at timestamptz not null default now(),
  primary key (customer_id, feature_key, period_start, threshold)
);
