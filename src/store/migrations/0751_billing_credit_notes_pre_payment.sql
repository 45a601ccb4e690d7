-- Pre-payment credit notes (Stripe's `pre_payment_amount`): on an issued, unpaid invoice a credit
-- note lowers the invoice's amount due; only what is left above the amount due is settled as a
-- refund, customer credit or out of band (`post_payment_amount`). A voided note keeps when.
alter table billing_credit_notes add column if not exists pre_payment_amount numeric(24, 8) not null default 0
  check (pre_payment_amount >= 0);
alter table billing_credit_notes add column if not exists voided_at timestamptz;
-- The settlement rule now counts the pre-payment part (the unnamed check of 0750).
alter table billing_credit_notes drop constraint if exists billing_credit_notes_check;
alter table billing_credit_notes add constraint billing_credit_notes_settled
  check (pre_payment_amount + refund_amount + credit_amount + out_of_band_amount = total);
