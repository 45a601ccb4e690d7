-- Budget alert webhooks are signed the Standard Webhooks way with a secret per alert.
alter table portal_budget_alerts add column if not exists webhook_secret text;
