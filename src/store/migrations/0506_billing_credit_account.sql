-- One customer's credits account (the portal's Credits page) in reads that do not grow with the
-- ledger: a credits-only customer writes a reservation, its release and a usage row per call.
-- Writers wait for this migration: the backfill of `held` and the trigger that keeps it change together.
lock table billing_credit_ledger in share row exclusive mode;

-- Held for calls in flight: the holds' running sum (a reservation takes the credit, its release
-- `release:<reservation id>`, written on settlement or when the call is abandoned, gives it back;
-- that release has neither grant nor invoice, which tells it from the releases of invoices).
-- Finding the reservations without a release would read every reservation the customer ever made.
alter table billing_credit_balances add column if not exists held numeric(24, 8) not null default 0;

update billing_credit_balances b set held = coalesce((
  select -sum(l.amount) from billing_credit_ledger l
  where l.customer_id = b.customer_id and l.currency = b.currency
    and (l.kind = 'reservation' or (l.kind = 'release' and l.grant_id is null and l.invoice_id is null))
), 0);

create or replace function tollgate_credit_ledger_sums() returns trigger
language plpgsql as $$
declare
  hold numeric(24, 8) := case
    when new.kind = 'reservation' or (new.kind = 'release' and new.grant_id is null and new.invoice_id is null)
    then -new.amount else 0 end;
begin
  insert into billing_credit_balances as b (customer_id, currency, balance, held)
  values (new.customer_id, new.currency, new.amount, hold)
  on conflict (customer_id, currency) do update set balance = b.balance + excluded.balance, held = b.held + excluded.held;
  if new.kind in ('grant', 'topup') then
    insert into billing_credit_grant_remaining as r (grant_id, remaining) values (new.id, new.amount)
    on conflict (grant_id) do update set remaining = r.remaining + excluded.remaining;
  elsif new.grant_id is not null then
    insert into billing_credit_grant_remaining as r (grant_id, remaining) values (new.grant_id, new.amount)
    on conflict (grant_id) do update set remaining = r.remaining + excluded.remaining;
  end if;
  return null;
end $$;

-- A customer's ledger in insertion order: the newest entries and each currency's first one are a
-- few index entries. It serves every query the (customer_id, currency) index served.
create index if not exists billing_credit_ledger_customer_seq on billing_credit_ledger (customer_id, currency, seq);
drop index if exists billing_credit_ledger_customer;

-- The newest entries shown, without the holds: calls that cost nothing write only holds, and the
-- newest 100 entries must not walk past all of them.
create index if not exists billing_credit_ledger_shown on billing_credit_ledger (customer_id, currency, seq)
  where kind <> 'reservation' and (kind <> 'release' or grant_id is not null or invoice_id is not null);

-- A customer's grants by expiry (the next to expire; settlement's grants in order), not every row.
create index if not exists billing_credit_ledger_grants on billing_credit_ledger (customer_id, currency, expires_at)
  where kind in ('grant', 'topup');
