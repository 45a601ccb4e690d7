-- Coupons may also be declared in tollgate.config.ts: their terms are read from the live config,
-- never copied here, so a discount's coupon code no longer has to be a row of billing_coupons.
-- A config coupon's redemptions are counted in billing_coupon_redemptions (one row per code,
-- locked while a checkout redeems it), as billing_coupons.times_redeemed counts a stored one.
alter table billing_discounts drop constraint if exists billing_discounts_coupon_code_fkey;

create table if not exists billing_coupon_redemptions (
  code text primary key,
  times_redeemed integer not null default 0 check (times_redeemed >= 0)
);
