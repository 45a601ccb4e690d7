import { problems } from '../../http/problem.ts';
import { newId } from '../../util/ids.ts';
import { Decimal } from '../../util/money.ts';
import type { BillingDeps } from '../deps.ts';
import type { DiscountTerms } from './apply.ts';
import { type Coupon, type CouponInput, couponInputSchema, type Discount, DiscountError } from './model.ts';
import {
  archiveCoupon,
  countRedemption,
  couponByCode,
  discountById,
  discountsForPeriod,
  discountsOfCustomer,
  holdsCoupon,
  insertCoupon,
  insertDiscount,
  listCoupons,
  moveDiscount,
  removeDiscount,
} from './repo.ts';

/**
 * Coupons (created by an operator) and discounts (a coupon redeemed by a customer at checkout or
 * applied by an operator). Redemption checks the coupon and counts it in one transaction under
 * the coupon's row lock, so two customers racing for the last redemption cannot both get it.
 */
export interface Discounts {
  createCoupon(input: CouponInput): Promise<Coupon>;
  listCoupons(): Promise<Coupon[]>;
  getCoupon(code: string): Promise<Coupon>;
  archiveCoupon(code: string): Promise<Coupon>;
  /** Whether a code can be redeemed now for an invoice in `currency` (portal checkout shows it before paying). */
  check(code: string, currency: string, customerId?: string): Promise<Coupon>;
  redeem(input: {
    code: string;
    customerId: string;
    subscriptionId?: string | null;
    currency: string;
    /**
     * Checkout: a customer whose earlier checkout with this code was undone (card declined)
     * gets the same discount moved to the new subscription, not a refusal.
     */
    again?: boolean;
  }): Promise<Discount>;
  listForCustomer(customerId: string): Promise<Discount[]>;
  remove(discountId: string): Promise<Discount>;
  /** The discounts a subscription's period gets, as the rating engine takes them. */
  termsFor(
    sub: { id: string; customerId: string; currency: string },
    period: { from: Date; to: Date },
  ): Promise<DiscountTerms[]>;
}

/** Domain errors to problem+json, at the edge of the service. */
export function discountProblem(error: unknown): unknown {
  if (!(error instanceof DiscountError)) return error;
  if (error.kind === 'not_found') return problems.notFound(error.message);
  if (error.kind === 'conflict') return problems.conflict(error.message);
  return problems.validation(error.message, [{ path: error.field, message: error.message }]);
}

const normal = (code: string) => code.trim().toUpperCase();

/** Why `coupon` cannot be redeemed at `now` in `currency`, or null. */
function refusal(
  coupon: Coupon | null,
  code: string,
  now: Date,
  currency: string,
  /** The customer already holds it (a checkout tried again): its redemption is counted. */
  held = false,
): DiscountError | null {
  if (!coupon || coupon.archivedAt) return new DiscountError('not_found', `No coupon "${code}".`);
  if (coupon.redeemBy && new Date(coupon.redeemBy) <= now)
    return new DiscountError('invalid', `Coupon "${code}" expired on ${coupon.redeemBy}.`);
  if (!held && coupon.maxRedemptions !== null && coupon.timesRedeemed >= coupon.maxRedemptions)
    return new DiscountError('invalid', `Coupon "${code}" has been redeemed the most times it can be.`);
  if (coupon.currency && coupon.currency !== currency)
    return new DiscountError(
      'invalid',
      `Coupon "${code}" is in ${coupon.currency}; this subscription bills in ${currency}.`,
    );
  return null;
}

/** Whether a discount still applies to a period it has been used `used` periods before. */
function inForce(coupon: Coupon, used: number): boolean {
  if (coupon.duration === 'forever') return true;
  return used < (coupon.duration === 'once' ? 1 : (coupon.durationPeriods ?? 0));
}

export function createDiscounts(deps: Pick<BillingDeps, 'store' | 'db' | 'clock'>): Discounts {
  const { store, db, clock } = deps;
  const guard = async <T>(fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (error) {
      throw discountProblem(error);
    }
  };
  const mustCoupon = async (code: string) => {
    const coupon = await couponByCode(db, normal(code));
    if (!coupon) throw new DiscountError('not_found', `No coupon "${normal(code)}".`);
    return coupon;
  };

  return {
    createCoupon: (input) =>
      guard(async () => {
        const parsed = couponInputSchema.safeParse(input);
        if (!parsed.success) {
          const errors = parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message }));
          throw problems.validation(
            `The coupon is not valid: ${errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`,
            errors,
          );
        }
        const c = parsed.data;
        const coupon = {
          code: c.code,
          name: c.name ?? `Coupon ${c.code}`,
          percentOff: c.percentOff ?? null,
          amountOff: c.amountOff ?? null,
          currency: c.currency ?? null,
          duration: c.duration,
          durationPeriods: c.durationPeriods ?? null,
          rateCardKeys: c.rateCardKeys,
          maxRedemptions: c.maxRedemptions ?? null,
          redeemBy: c.redeemBy ? new Date(c.redeemBy).toISOString() : null,
          createdAt: clock.now().toISOString(),
        };
        if (!(await insertCoupon(db, coupon)))
          throw new DiscountError('conflict', `Coupon "${c.code}" exists.`);
        return mustCoupon(c.code);
      }),
    listCoupons: () => listCoupons(db),
    getCoupon: (code) => guard(() => mustCoupon(code)),
    archiveCoupon: (code) =>
      guard(async () => {
        await mustCoupon(code);
        await archiveCoupon(db, normal(code), clock.now());
        return mustCoupon(code);
      }),
    check: (code, currency, customerId) =>
      guard(async () => {
        const coupon = await couponByCode(db, normal(code));
        const held = customerId ? await holdsCoupon(db, normal(code), customerId) : false;
        const refused = refusal(coupon, normal(code), clock.now(), currency, held);
        if (refused) throw refused;
        return coupon as Coupon;
      }),
    redeem: (input) =>
      guard(async () => {
        const code = normal(input.code);
        const id = await store.transaction(async (tx) => {
          const coupon = await couponByCode(tx, code, true);
          const held = input.again ? await holdsCoupon(tx, code, input.customerId) : false;
          const refused = refusal(coupon, code, clock.now(), input.currency, held);
          if (refused) throw refused;
          const discountId = newId('dsc');
          const inserted = await insertDiscount(tx, {
            id: discountId,
            couponCode: code,
            customerId: input.customerId,
            subscriptionId: input.subscriptionId ?? null,
            redeemedAt: clock.now(),
          });
          if (inserted) {
            await countRedemption(tx, code);
            return discountId;
          }
          const earlier = input.again
            ? await moveDiscount(tx, code, input.customerId, input.subscriptionId ?? null)
            : null;
          if (!earlier)
            throw new DiscountError('conflict', `This customer has already redeemed coupon "${code}".`);
          return earlier;
        });
        return (await discountById(db, id)) as Discount;
      }),
    listForCustomer: (customerId) => discountsOfCustomer(db, customerId),
    remove: (discountId) =>
      guard(async () => {
        if (!(await discountById(db, discountId)))
          throw new DiscountError('not_found', `No discount ${discountId}.`, 'id');
        await removeDiscount(db, discountId, clock.now());
        return (await discountById(db, discountId)) as Discount;
      }),
    async termsFor(sub, period) {
      const rows = await discountsForPeriod(db, sub.customerId, sub.id, period);
      const terms: DiscountTerms[] = [];
      for (const { discount, periodsUsed, givenThisPeriod } of rows) {
        const { coupon } = discount;
        if (!inForce(coupon, periodsUsed)) continue;
        if (coupon.currency && coupon.currency !== sub.currency) continue; // refused at redemption
        // A fixed amount is per period: what an earlier invoice of the period took is not given twice.
        const amountOff = coupon.amountOff ? new Decimal(coupon.amountOff).sub(givenThisPeriod) : null;
        if (amountOff?.lte(0)) continue;
        terms.push({
          id: discount.id,
          name: `Coupon ${coupon.code}`,
          ...(coupon.percentOff ? { percentOff: coupon.percentOff } : {}),
          ...(amountOff ? { amountOff: amountOff.toString() } : {}),
          ...(coupon.rateCardKeys.length ? { rateCardKeys: coupon.rateCardKeys } : {}),
        });
      }
      return terms;
    },
  };
}
