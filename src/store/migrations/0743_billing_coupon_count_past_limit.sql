-- A completed hosted checkout whose hold had expired (a Paddle page paid after the hold's 24
-- hours) is honoured even when the freed redemption was taken meanwhile, so a coupon's count may
-- pass its max_redemptions by such late payments: the count says what was given. The limit is
-- enforced where redemptions and holds are taken (under the count's lock), no longer by this check.
do $$
declare
  name text;
begin
  select conname into name from pg_constraint
   where conrelid = 'billing_coupons'::regclass
     and pg_get_constraintdef(oid) like '%times_redeemed <= max_redemptions%';
  if name is not null then
    execute format('alter table billing_coupons drop constraint %I', name);
  end if;
end $$;
