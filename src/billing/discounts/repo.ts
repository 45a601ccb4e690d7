import { type Generated, type Kysely, sql } from 'kysely';
import type { BaseDatabase } from '../../store/index.ts';
import type { Coupon, StoredDiscount } from './model.ts';

/**
 * SQL for coupons and discounts, on typed tables. Money columns are read as text (`::text`), so
 * nothing passes through a float on either store (PostgreSQL or PGlite).
 */
export type DiscountTables = {
  billing_coupons: {
    code: string;
    name: string;
    percent_off: string | null;
    amount_off: string | null;
    currency: string | null;
    duration: Coupon['duration'];
    duration_periods: number | null;
    rate_card_keys: string;
    max_redemptions: number | null;
    redeem_by: Date | string | null;
    times_redeemed: Generated<number>;
    created_at: Date | string;
    archived_at: Date | null;
  };
  /** Redemptions of coupons declared in the config (their terms live in the config). */
  billing_coupon_redemptions: { code: string; times_redeemed: Generated<number> };
  billing_discounts: {
    id: string;
    coupon_code: string;
    customer_id: string;
    subscription_id: string | null;
    redeemed_at: Date;
    removed_at: Date | null;
  };
  // Read only here: a discount's periods are counted from its invoice lines.
  billing_invoices: { id: string; subscription_id: string | null; status: string; period_from: Date };
  billing_invoice_lines: { invoice_id: string; key: string; amount: string };
};

type DiscountDb = Kysely<DiscountTables>;
const typed = (db: Kysely<BaseDatabase>): DiscountDb => db.withTables<DiscountTables>();

const trim = (v: string | null) => (v === null ? null : v.replace(/(\.\d*?)0+$/, '$1').replace(/\.$/, ''));
const iso = (v: Date | string | null): string | null => (v === null ? null : new Date(v).toISOString());

function selectCoupons(db: DiscountDb) {
  return db
    .selectFrom('billing_coupons as c')
    .select([
      'c.code',
      'c.name',
      sql<string | null>`c.percent_off::text`.as('percent_off'),
      sql<string | null>`c.amount_off::text`.as('amount_off'),
      'c.currency',
      'c.duration',
      'c.duration_periods',
      sql<string[] | string>`c.rate_card_keys`.as('rate_card_keys'),
      'c.max_redemptions',
      'c.redeem_by',
      'c.times_redeemed',
      'c.created_at',
      'c.archived_at',
    ]);
}

type CouponRow = Awaited<ReturnType<ReturnType<typeof selectCoupons>['executeTakeFirstOrThrow']>>;

function toCoupon(row: CouponRow): Coupon {
  return {
    code: row.code,
    name: row.name,
    percentOff: trim(row.percent_off),
    amountOff: trim(row.amount_off),
    currency: row.currency,
    duration: row.duration,
    durationPeriods: row.duration_periods,
    rateCardKeys:
      typeof row.rate_card_keys === 'string'
        ? (JSON.parse(row.rate_card_keys) as string[])
        : row.rate_card_keys,
    maxRedemptions: row.max_redemptions,
    redeemBy: iso(row.redeem_by),
    timesRedeemed: row.times_redeemed,
    createdAt: iso(row.created_at),
    archivedAt: iso(row.archived_at),
    archived: row.archived_at !== null,
    source: 'store',
  };
}

export async function insertCoupon(
  db: Kysely<BaseDatabase>,
  c: Omit<Coupon, 'timesRedeemed' | 'archivedAt' | 'archived' | 'source' | 'createdAt'> & {
    createdAt: string;
  },
): Promise<boolean> {
  const row = await typed(db)
    .insertInto('billing_coupons')
    .values({
      code: c.code,
      name: c.name,
      percent_off: c.percentOff,
      amount_off: c.amountOff,
      currency: c.currency,
      duration: c.duration,
      duration_periods: c.durationPeriods,
      rate_card_keys: JSON.stringify(c.rateCardKeys),
      max_redemptions: c.maxRedemptions,
      redeem_by: c.redeemBy,
      created_at: c.createdAt,
      archived_at: null,
    })
    .onConflict((oc) => oc.column('code').doNothing())
    .returning('code')
    .executeTakeFirst();
  return row !== undefined;
}

export async function couponByCode(
  db: Kysely<BaseDatabase>,
  code: string,
  lock = false,
): Promise<Coupon | null> {
  const query = selectCoupons(typed(db)).where('c.code', '=', code);
  const row = await (lock ? query.forUpdate() : query).executeTakeFirst();
  return row ? toCoupon(row) : null;
}

export async function listCoupons(db: Kysely<BaseDatabase>): Promise<Coupon[]> {
  const rows = await selectCoupons(typed(db)).orderBy('c.created_at').orderBy('c.code').execute();
  return rows.map(toCoupon);
}

/** Codes of `codes` that are stored coupons (a code may not be both in the config and the store). */
export async function storedCodes(db: Kysely<BaseDatabase>, codes: readonly string[]): Promise<string[]> {
  if (codes.length === 0) return [];
  const rows = await typed(db)
    .selectFrom('billing_coupons')
    .select('code')
    .where('code', 'in', codes)
    .execute();
  return rows.map((r) => r.code);
}

export async function archiveCoupon(db: Kysely<BaseDatabase>, code: string, at: Date): Promise<void> {
  await typed(db)
    .updateTable('billing_coupons')
    .set({ archived_at: sql<Date>`coalesce(archived_at, ${at})` })
    .where('code', '=', code)
    .execute();
}

export async function countRedemption(db: Kysely<BaseDatabase>, code: string): Promise<void> {
  await typed(db)
    .updateTable('billing_coupons')
    .set((eb) => ({ times_redeemed: eb('times_redeemed', '+', 1) }))
    .where('code', '=', code)
    .execute();
}

/**
 * A config coupon's redemption count, its row locked for the rest of the transaction (created at
 * zero on first use), so two checkouts racing for the last redemption run one after the other.
 */
export async function lockConfigRedemptions(db: Kysely<BaseDatabase>, code: string): Promise<number> {
  const tx = typed(db);
  await tx
    .insertInto('billing_coupon_redemptions')
    .values({ code })
    .onConflict((oc) => oc.column('code').doNothing())
    .execute();
  const row = await tx
    .selectFrom('billing_coupon_redemptions')
    .select('times_redeemed')
    .where('code', '=', code)
    .forUpdate()
    .executeTakeFirstOrThrow();
  return row.times_redeemed;
}

export async function countConfigRedemption(db: Kysely<BaseDatabase>, code: string): Promise<void> {
  await typed(db)
    .updateTable('billing_coupon_redemptions')
    .set((eb) => ({ times_redeemed: eb('times_redeemed', '+', 1) }))
    .where('code', '=', code)
    .execute();
}

/** Redemption counts of config coupons, by code (codes never redeemed are absent). */
export async function configRedemptions(
  db: Kysely<BaseDatabase>,
  codes: readonly string[],
): Promise<Map<string, number>> {
  if (codes.length === 0) return new Map();
  const rows = await typed(db)
    .selectFrom('billing_coupon_redemptions')
    .select(['code', 'times_redeemed'])
    .where('code', 'in', codes)
    .execute();
  return new Map(rows.map((r) => [r.code, r.times_redeemed]));
}

export async function insertDiscount(
  db: Kysely<BaseDatabase>,
  d: { id: string; couponCode: string; customerId: string; subscriptionId: string | null; redeemedAt: Date },
): Promise<boolean> {
  const row = await typed(db)
    .insertInto('billing_discounts')
    .values({
      id: d.id,
      coupon_code: d.couponCode,
      customer_id: d.customerId,
      subscription_id: d.subscriptionId,
      redeemed_at: d.redeemedAt,
      removed_at: null,
    })
    .onConflict((oc) => oc.columns(['coupon_code', 'customer_id']).doNothing())
    .returning('id')
    .executeTakeFirst();
  return row !== undefined;
}

type DiscountRow = DiscountTables['billing_discounts'];

function toStoredDiscount(row: DiscountRow): StoredDiscount {
  return {
    id: row.id,
    couponCode: row.coupon_code,
    customerId: row.customer_id,
    subscriptionId: row.subscription_id,
    redeemedAt: iso(row.redeemed_at) ?? '',
    removedAt: iso(row.removed_at),
  };
}

export async function discountById(db: Kysely<BaseDatabase>, id: string): Promise<StoredDiscount | null> {
  const row = await typed(db)
    .selectFrom('billing_discounts')
    .selectAll()
    .where('id', '=', id)
    .executeTakeFirst();
  return row ? toStoredDiscount(row) : null;
}

export async function discountsOfCustomer(
  db: Kysely<BaseDatabase>,
  customerId: string,
): Promise<StoredDiscount[]> {
  const rows = await typed(db)
    .selectFrom('billing_discounts')
    .selectAll()
    .where('customer_id', '=', customerId)
    .orderBy('redeemed_at')
    .orderBy('id')
    .execute();
  return rows.map(toStoredDiscount);
}

export async function removeDiscount(db: Kysely<BaseDatabase>, id: string, at: Date): Promise<void> {
  await typed(db)
    .updateTable('billing_discounts')
    .set({ removed_at: sql<Date>`coalesce(removed_at, ${at})` })
    .where('id', '=', id)
    .execute();
}

/**
 * Discounts in force for a subscription's period, in redemption order, with the number of
 * earlier periods each was applied to and what it already took off this period (an earlier
 * invoice of the period: checkout's), from the invoices' `discount:<id>` lines, void ones aside.
 */
export async function discountsForPeriod(
  db: Kysely<BaseDatabase>,
  customerId: string,
  subscriptionId: string,
  period: { from: Date; to: Date },
): Promise<{ discount: StoredDiscount; periodsUsed: number; givenThisPeriod: string }[]> {
  // A discount's lines on this subscription's invoices that count (a void invoice gives its period back).
  const ownLine = sql<boolean>`l.key = 'discount:' || d.id and i.subscription_id = ${subscriptionId} and i.status <> 'void'`;
  const rows = await typed(db)
    .selectFrom('billing_discounts as d')
    .selectAll('d')
    .select((eb) => [
      eb
        .selectFrom('billing_invoice_lines as l')
        .innerJoin('billing_invoices as i', 'i.id', 'l.invoice_id')
        .where(ownLine)
        .where('i.period_from', '<', period.from)
        .select(sql<number>`count(distinct i.period_from)::int`.as('n'))
        .as('periods_used'),
      eb
        .selectFrom('billing_invoice_lines as l')
        .innerJoin('billing_invoices as i', 'i.id', 'l.invoice_id')
        .where(ownLine)
        .where('i.period_from', '=', period.from)
        .select(sql<string>`coalesce(-sum(l.amount), 0)::text`.as('n'))
        .as('given_this_period'),
    ])
    .where('d.customer_id', '=', customerId)
    .where((eb) => eb.or([eb('d.subscription_id', 'is', null), eb('d.subscription_id', '=', subscriptionId)]))
    .where('d.removed_at', 'is', null)
    .where('d.redeemed_at', '<', period.to)
    .orderBy('d.redeemed_at')
    .orderBy('d.id')
    .execute();
  return rows.map((r) => ({
    discount: toStoredDiscount(r),
    periodsUsed: r.periods_used ?? 0,
    givenThisPeriod: r.given_this_period ?? '0',
  }));
}

/** The customer's discount from `code` moved to `subscriptionId` (a checkout tried again); its id, or null. */
export async function moveDiscount(
  db: Kysely<BaseDatabase>,
  code: string,
  customerId: string,
  subscriptionId: string | null,
): Promise<string | null> {
  const row = await typed(db)
    .updateTable('billing_discounts')
    .set({ subscription_id: subscriptionId, removed_at: null })
    .where('coupon_code', '=', code)
    .where('customer_id', '=', customerId)
    .returning('id')
    .executeTakeFirst();
  return row?.id ?? null;
}

export async function holdsCoupon(
  db: Kysely<BaseDatabase>,
  code: string,
  customerId: string,
): Promise<boolean> {
  const row = await typed(db)
    .selectFrom('billing_discounts')
    .select('id')
    .where('coupon_code', '=', code)
    .where('customer_id', '=', customerId)
    .executeTakeFirst();
  return row !== undefined;
}
