import { type Db, iso, sqlRows } from '../model.ts';
import type { Coupon, Discount } from './model.ts';

/** SQL for coupons and discounts. Money is read as text, so nothing passes through a float. */
interface CouponRow {
  code: string;
  name: string;
  percent_off: string | null;
  amount_off: string | null;
  currency: string | null;
  duration: Coupon['duration'];
  duration_periods: number | null;
  rate_card_keys: string[] | string;
  max_redemptions: number | null;
  redeem_by: Date | string | null;
  times_redeemed: number;
  created_at: Date | string;
  archived_at: Date | string | null;
}

interface DiscountRow extends CouponRow {
  id: string;
  coupon_code: string;
  customer_id: string;
  subscription_id: string | null;
  redeemed_at: Date | string;
  removed_at: Date | string | null;
}

const COUPON_COLUMNS = `c.code, c.name, c.percent_off::text as percent_off, c.amount_off::text as amount_off, c.currency,
  c.duration, c.duration_periods, c.rate_card_keys, c.max_redemptions, c.redeem_by, c.times_redeemed, c.created_at, c.archived_at`;

const trim = (v: string | null) => (v === null ? null : v.replace(/(\.\d*?)0+$/, '$1').replace(/\.$/, ''));

export function toCoupon(row: CouponRow): Coupon {
  return {
    code: row.code,
    name: row.name,
    percentOff: trim(row.percent_off),
    amountOff: trim(row.amount_off),
    currency: row.currency,
    duration: row.duration,
    durationPeriods: row.duration_periods,
    rateCardKeys:
      typeof row.rate_card_keys === 'string' ? JSON.parse(row.rate_card_keys) : row.rate_card_keys,
    maxRedemptions: row.max_redemptions,
    redeemBy: iso(row.redeem_by),
    timesRedeemed: row.times_redeemed,
    createdAt: iso(row.created_at) as string,
    archivedAt: iso(row.archived_at),
  };
}

function toDiscount(row: DiscountRow): Discount {
  return {
    id: row.id,
    couponCode: row.coupon_code,
    customerId: row.customer_id,
    subscriptionId: row.subscription_id,
    redeemedAt: iso(row.redeemed_at) as string,
    removedAt: iso(row.removed_at),
    coupon: toCoupon(row),
  };
}

export async function insertCoupon(
  db: Db,
  c: Omit<Coupon, 'timesRedeemed' | 'archivedAt'>,
): Promise<boolean> {
  const rows = await sqlRows(
    db,
    `insert into billing_coupons (code, name, percent_off, amount_off, currency, duration, duration_periods,
       rate_card_keys, max_redemptions, redeem_by, created_at)
     values ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9, $10, $11) on conflict (code) do nothing returning code`,
    [
      c.code,
      c.name,
      c.percentOff,
      c.amountOff,
      c.currency,
      c.duration,
      c.durationPeriods,
      JSON.stringify(c.rateCardKeys),
      c.maxRedemptions,
      c.redeemBy,
      c.createdAt,
    ],
  );
  return rows.length === 1;
}

export async function couponByCode(db: Db, code: string, lock = false): Promise<Coupon | null> {
  const [row] = await sqlRows<CouponRow>(
    db,
    `select ${COUPON_COLUMNS} from billing_coupons c where c.code = $1${lock ? ' for update' : ''}`,
    [code],
  );
  return row ? toCoupon(row) : null;
}

export async function listCoupons(db: Db): Promise<Coupon[]> {
  const rows = await sqlRows<CouponRow>(
    db,
    `select ${COUPON_COLUMNS} from billing_coupons c order by c.created_at, c.code`,
  );
  return rows.map(toCoupon);
}

export async function archiveCoupon(db: Db, code: string, at: Date): Promise<void> {
  await sqlRows(db, 'update billing_coupons set archived_at = coalesce(archived_at, $2) where code = $1', [
    code,
    at,
  ]);
}

export async function countRedemption(db: Db, code: string): Promise<void> {
  await sqlRows(db, 'update billing_coupons set times_redeemed = times_redeemed + 1 where code = $1', [code]);
}

export async function insertDiscount(
  db: Db,
  d: { id: string; couponCode: string; customerId: string; subscriptionId: string | null; redeemedAt: Date },
): Promise<boolean> {
  const rows = await sqlRows(
    db,
    `insert into billing_discounts (id, coupon_code, customer_id, subscription_id, redeemed_at)
     values ($1, $2, $3, $4, $5) on conflict (coupon_code, customer_id) do nothing returning id`,
    [d.id, d.couponCode, d.customerId, d.subscriptionId, d.redeemedAt],
  );
  return rows.length === 1;
}

const DISCOUNT_SELECT = `select d.id, d.coupon_code, d.customer_id, d.subscription_id, d.redeemed_at, d.removed_at, ${COUPON_COLUMNS}
  from billing_discounts d join billing_coupons c on c.code = d.coupon_code`;

export async function discountById(db: Db, id: string): Promise<Discount | null> {
  const [row] = await sqlRows<DiscountRow>(db, `${DISCOUNT_SELECT} where d.id = $1`, [id]);
  return row ? toDiscount(row) : null;
}

export async function discountsOfCustomer(db: Db, customerId: string): Promise<Discount[]> {
  const rows = await sqlRows<DiscountRow>(
    db,
    `${DISCOUNT_SELECT} where d.customer_id = $1 order by d.redeemed_at, d.id`,
    [customerId],
  );
  return rows.map(toDiscount);
}

export async function removeDiscount(db: Db, id: string, at: Date): Promise<void> {
  await sqlRows(db, 'update billing_discounts set removed_at = coalesce(removed_at, $2) where id = $1', [
    id,
    at,
  ]);
}

/**
 * Discounts in force for a subscription's period, in redemption order, with the number of
 * earlier periods each was applied to and what it already took off this period (an earlier
 * invoice of the period: checkout's), from the invoices' `discount:<id>` lines, void ones aside.
 */
export async function discountsForPeriod(
  db: Db,
  customerId: string,
  subscriptionId: string,
  period: { from: Date; to: Date },
): Promise<{ discount: Discount; periodsUsed: number; givenThisPeriod: string }[]> {
  const rows = await sqlRows<DiscountRow & { periods_used: number; given_this_period: string }>(
    db,
    `select d.id, d.coupon_code, d.customer_id, d.subscription_id, d.redeemed_at, d.removed_at, ${COUPON_COLUMNS},
       (select count(distinct i.period_from)::int from billing_invoice_lines l join billing_invoices i on i.id = l.invoice_id
         where l.key = 'discount:' || d.id and i.subscription_id = $2 and i.status <> 'void' and i.period_from < $3) as periods_used,
       (select coalesce(-sum(l.amount), 0)::text from billing_invoice_lines l join billing_invoices i on i.id = l.invoice_id
         where l.key = 'discount:' || d.id and i.subscription_id = $2 and i.status <> 'void' and i.period_from = $3) as given_this_period
     from billing_discounts d join billing_coupons c on c.code = d.coupon_code
     where d.customer_id = $1 and (d.subscription_id is null or d.subscription_id = $2)
       and d.removed_at is null and d.redeemed_at < $4
     order by d.redeemed_at, d.id`,
    [customerId, subscriptionId, period.from, period.to],
  );
  return rows.map((r) => ({
    discount: toDiscount(r),
    periodsUsed: r.periods_used,
    givenThisPeriod: r.given_this_period,
  }));
}

/** The customer's discount from `code` moved to `subscriptionId` (a checkout tried again); its id, or null. */
export async function moveDiscount(
  db: Db,
  code: string,
  customerId: string,
  subscriptionId: string | null,
): Promise<string | null> {
  const [row] = await sqlRows<{ id: string }>(
    db,
    `update billing_discounts set subscription_id = $3, removed_at = null
     where coupon_code = $1 and customer_id = $2 returning id`,
    [code, customerId, subscriptionId],
  );
  return row?.id ?? null;
}

export async function holdsCoupon(db: Db, code: string, customerId: string): Promise<boolean> {
  const rows = await sqlRows(
    db,
    'select 1 from billing_discounts where coupon_code = $1 and customer_id = $2',
    [code, customerId],
  );
  return rows.length > 0;
}
