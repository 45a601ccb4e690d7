-- A coupon quoted on a provider's hosted checkout (Stripe Checkout, Paddle checkout) is held for
-- the customer while the page is open: the hold counts against max_redemptions, so a later
-- customer is told "used up" when quoted, and the completed checkout turns it into the
-- redemption. One hold per coupon and customer (a new session replaces it); a hold past its
-- expires_at no longer counts (the provider's session expired).
create table if not exists billing_coupon_holds (
  code text not null,
  customer_id text not null,
  session_id text not null,
  expires_at timestamptz not null,
  created_at timestamptz not null,
  primary key (code, customer_id)
);
create index if not exists billing_coupon_holds_live on billing_coupon_holds (code, expires_at);
