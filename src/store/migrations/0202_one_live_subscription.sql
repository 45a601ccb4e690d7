-- One subscription that is not canceled per customer (a plan change is a change, not a second
-- subscription). The service checks it under a lock on the customer; this is the backstop.
create unique index if not exists subscriptions_one_live on subscriptions (customer_id) where status <> 'canceled';
