-- The expiry job runs every minute; without these it read the whole credits ledger twice.
-- `expireDue`: grants and top-ups whose expiry has come, then whether each already has its expiry
-- row (the grant_id index alone reads every drawdown of the grant to find it).
create index if not exists billing_credit_ledger_expiring on billing_credit_ledger (expires_at)
  where kind in ('grant', 'topup') and expires_at is not null;
create index if not exists billing_credit_ledger_expiry_of on billing_credit_ledger (grant_id)
  where kind = 'expiry';
-- `releaseAbandoned`: reservations older than an hour; whether each was released is a lookup of
-- `release:<reservation id>` in the unique idempotency_key index.
create index if not exists billing_credit_ledger_reservations on billing_credit_ledger (created_at)
  where kind = 'reservation';
