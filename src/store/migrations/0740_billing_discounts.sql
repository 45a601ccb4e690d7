-- Coupons (the terms an operator creates) and discounts (a coupon redeemed by a customer, as
-- Stripe's Coupon / Discount and Lago's coupon / applied_coupon). Each invoice a discount applies
-- to carries a line `discount:<discount id>`: the periods a discount was used are counted from
-- those lines, so a voided invoice gives its period back.
create table if not exists billing_coupons (
  code text primary key,
  name text not null,
  percent_off numeric(9, 4) check (percent_off > 0 and percent_off <= 100),
  amount_off numeric(24, 8) check (amount_off > 0),
  currency text,
  duration text not null check (duration in ('once', 'repeating', 'forever')),
  duration_periods integer check (duration_periods > 0),
  rate_card_keys jsonb not null default '[]',
  max_redemptions integer check (max_redemptions > 0),
  redeem_by timestamptz,
  times_redeemed integer not null default 0,
  created_at timestamptz not null default now(),
  archived_at timestamptz,
  check ((percent_off is null) <> (amount_off is null)),
  check ((amount_off is null) = (currency is null)),
  check ((duration = 'repeating') = (duration_periods is not null)),
  check (max_redemptions is null or times_redeemed <= max_redemptions)
);

create table if not exists billing_discounts (
  id text primary key,
  coupon_code text not null references billing_coupons (code),
  customer_id text not null,
  -- null: every subscription of the customer
  subscription_id text,
  redeemed_at timestamptz not null,
  removed_at timestamptz
);
create index if not exists billing_discounts_customer on billing_discounts (customer_id) where removed_at is null;
-- A customer redeems a coupon once.
create unique index if not exists billing_discounts_once on billing_discounts (coupon_code, customer_id);
