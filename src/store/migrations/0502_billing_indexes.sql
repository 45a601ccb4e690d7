-- Billing run and upcoming-invoice lookups by subscription period.
create index if not exists billing_invoices_subscription_period on billing_invoices (subscription_id, period_from);
create index if not exists billing_payments_idempotency on billing_payments (idempotency_key);
