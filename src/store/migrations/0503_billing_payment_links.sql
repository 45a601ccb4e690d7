-- Rails that cannot charge a saved payment method (Paddle renewals) answer a charge with a link
-- where the customer pays; the invoice keeps the latest one until it is paid.
alter table billing_invoices add column if not exists payment_url text;
