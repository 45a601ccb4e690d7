-- Credit balances and what is left of each grant, kept next to the ledger by a trigger in the
-- same transaction as every ledger row. The ledger stays the record (rows are only appended);
-- these are its running sums, so a balance check reads one row instead of summing every
-- reservation, release and usage row of the customer (a credits-only customer writes several
-- per call, and each call checks the balance).
create table if not exists billing_credit_balances (
  customer_id text not null,
  currency text not null,
  balance numeric(24, 8) not null,
  primary key (customer_id, currency)
);

create table if not exists billing_credit_grant_remaining (
  grant_id text primary key,
  remaining numeric(24, 8) not null
);

insert into billing_credit_balances (customer_id, currency, balance)
select customer_id, currency, sum(amount) from billing_credit_ledger group by customer_id, currency
on conflict do nothing;

insert into billing_credit_grant_remaining (grant_id, remaining)
select g.id, g.amount + coalesce((select sum(c.amount) from billing_credit_ledger c where c.grant_id = g.id), 0)
from billing_credit_ledger g
where g.kind in ('grant', 'topup')
on conflict do nothing;

create or replace function tollgate_credit_ledger_sums() returns trigger
language plpgsql as $$
begin
  insert into billing_credit_balances as b (customer_id, currency, balance)
  values (new.customer_id, new.currency, new.amount)
  on conflict (customer_id, currency) do update set balance = b.balance + excluded.balance;
  if new.kind in ('grant', 'topup') then
    insert into billing_credit_grant_remaining as r (grant_id, remaining) values (new.id, new.amount)
    on conflict (grant_id) do update set remaining = r.remaining + excluded.remaining;
  elsif new.grant_id is not null then
    insert into billing_credit_grant_remaining as r (grant_id, remaining) values (new.grant_id, new.amount)
    on conflict (grant_id) do update set remaining = r.remaining + excluded.remaining;
  end if;
  return null;
end $$;

drop trigger if exists billing_credit_ledger_sums on billing_credit_ledger;
create trigger billing_credit_ledger_sums after insert on billing_credit_ledger
for each row execute function tollgate_credit_ledger_sums();
