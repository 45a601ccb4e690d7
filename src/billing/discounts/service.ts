import type { Kysely } from 'kysely';
import { ConfigError, type ResolvedConfig } from '../../config/index.ts';
import { ProblemError, problems } from '../../http/problem.ts';
import type { BaseDatabase } from '../../store/index.ts';
import { newId } from '../../util/ids.ts';
import { Decimal } from '../../util/money.ts';
import type { BillingDeps } from '../deps.ts';
import type { DiscountTerms } from './apply.ts';
import { configCoupons, couponSource, couponTerms } from './coupons.ts';
import { liveHolds, putHold, takeHold } from './holds.ts';
import {
  type Coupon,
  type CouponInput,
  couponInputSchema,
  type Discount,
  DiscountError,
  type StoredDiscount,
} from './model.ts';
import {
  archiveCoupon,
  countConfigRedemption,
  countRedemption,
  discountById,
  discountsForPeriod,
  discountsOfCustomer,
  holdsCoupon,
  insertCoupon,
  insertDiscount,
  moveDiscount,
  removeDiscount,
  storedCodes,
} from './repo.ts';

/**
 * Coupons (declared in the config or created by an operator) and discounts (a coupon redeemed by
 * a customer at checkout or applied by an operator). Redemption checks the coupon and counts it
 * under the lock of its redemption count, in the caller's transaction when it has one (checkout
 * redeems in the transaction that creates the subscription), so two customers racing for the last
 * redemption cannot both get it, and the one refused leaves nothing behind.
 */
export interface RedeemInput {
  code: string;
  customerId: string;
  subscriptionId?: string | null;
  currency: string;
  /**
   * Checkout: a customer whose earlier checkout with this code was undone (card declined)
   * gets the same discount moved to the new subscription, not a refusal.
   */
  again?: boolean;
  /**
   * A provider's hosted checkout completed: the customer was quoted this coupon when the session
   * was created (and held it since, `hold`), so the quote is honoured even when the coupon ran
   * out, expired or was archived meanwhile, and the hold becomes the redemption.
   */
  quoted?: boolean;
}

export interface HoldInput {
  code: string;
  customerId: string;
  currency: string;
  /** The provider's session (Stripe Checkout Session, Paddle transaction). */
  sessionId: string;
  /** When the provider's session expires: the hold counts until then. */
  expiresAt: Date;
}

export interface Discounts {
  createCoupon(input: CouponInput): Promise<Coupon>;
  listCoupons(): Promise<Coupon[]>;
  getCoupon(code: string): Promise<Coupon>;
  archiveCoupon(code: string): Promise<Coupon>;
  /** Whether a code can be redeemed now for an invoice in `currency` (portal checkout shows it before paying). */
  check(code: string, currency: string, customerId?: string): Promise<Coupon>;
  redeem(input: RedeemInput): Promise<Discount>;
  /**
   * Holds a redemption of `code` for the customer while a provider's hosted checkout is open
   * (refused as `redeem` would be): other customers count it as redeemed until it expires.
   */
  hold(input: HoldInput): Promise<void>;
  /** `redeem` inside the caller's transaction `tx`: its discount id (the refusal is a ProblemError). */
  redeemIn(tx: Kysely<BaseDatabase>, input: RedeemInput): Promise<string>;
  listForCustomer(customerId: string): Promise<Discount[]>;
  remove(discountId: string): Promise<Discount>;
  /** The discounts a subscription's period gets, as the rating engine takes them. */
  termsFor(
    sub: { id: string; customerId: string; currency: string },
    period: { from: Date; to: Date },
    /**
     * `simulate`: the period rated whole, as if none of its own invoices were issued yet (a fixed
     * amount is given once over the period, not less what its invoices already took).
     */
    options?: { wholePeriod?: boolean },
  ): Promise<DiscountTerms[]>;
  /** Refuses `config` (ConfigError naming the field) when one of its coupon codes is also a stored coupon. */
  assertConfigCodes(config: Pick<ResolvedConfig, 'billing'>): Promise<void>;
}

/** Domain errors to problem+json, at the edge of the service. */
export function discountProblem(error: unknown): unknown {
  if (!(error instanceof DiscountError)) return error;
  if (error.kind === 'not_found') return problems.notFound(error.message);
  if (error.kind === 'conflict') return problems.conflict(error.message);
  if (error.kind === 'exhausted')
    return new ProblemError({
      status: 409,
      type: 'coupon-exhausted',
      title: 'Coupon used up',
      detail: error.message,
    });
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
  /** Redemptions other customers hold on open hosted checkouts: counted as redeemed. */
  heldByOthers = 0,
): DiscountError | null {
  if (!coupon || coupon.archived) return new DiscountError('not_found', `No coupon "${code}".`);
  if (coupon.redeemBy && new Date(coupon.redeemBy) <= now)
    return new DiscountError('invalid', `Coupon "${code}" expired on ${coupon.redeemBy}.`);
  // Stripe's rule (stripe-node types/2020-03-02/Coupons.d.ts, `max_redemptions`): "in total,
  // across all customers, before it is no longer valid". A customer's retried checkout is not a
  // second redemption. Used up is a 409 `coupon-exhausted`: the code was good, the stock is gone.
  if (!held && coupon.maxRedemptions !== null && coupon.timesRedeemed + heldByOthers >= coupon.maxRedemptions)
    return new DiscountError('exhausted', `Coupon "${code}" has been redeemed the most times it can be.`);
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

export function createDiscounts(deps: Pick<BillingDeps, 'store' | 'db' | 'clock' | 'config'>): Discounts {
  const { store, db, clock, config } = deps;
  const coupons = couponSource(() => config);
  const guard = async <T>(fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (error) {
      throw discountProblem(error);
    }
  };
  const mustCoupon = async (code: string) => {
    const coupon = await coupons.find(db, normal(code));
    if (!coupon) throw new DiscountError('not_found', `No coupon "${normal(code)}".`);
    return coupon;
  };
  const inConfig = (code: string) =>
    new DiscountError(
      'conflict',
      `Coupon "${code}" is declared in the config (billing.coupons); change it there, not through the API.`,
    );
  /** Discounts with their coupons' terms (null: a config coupon taken out of the config). */
  const withCoupons = async (stored: StoredDiscount[]): Promise<Discount[]> => {
    const byCode = new Map<string, Coupon | null>();
    for (const d of stored)
      if (!byCode.has(d.couponCode)) byCode.set(d.couponCode, await coupons.find(db, d.couponCode));
    return stored.map((d) => ({ ...d, coupon: byCode.get(d.couponCode) ?? null }));
  };
  const mustDiscount = async (id: string) => {
    const stored = await discountById(db, id);
    if (!stored) throw new DiscountError('not_found', `No discount ${id}.`, 'id');
    const [discount] = await withCoupons([stored]);
    return discount as Discount;
  };

  async function redeemIn(tx: Kysely<BaseDatabase>, input: RedeemInput): Promise<string> {
    const code = normal(input.code);
    const coupon = await coupons.find(tx, code, true);
    const held = coupon ? await holdsCoupon(tx, code, input.customerId) : false;
    // Said as it is: a customer who has it already is told so, not that the coupon is used up.
    if (held && !input.again)
      throw discountProblem(
        new DiscountError('conflict', `This customer has already redeemed coupon "${code}".`),
      );
    // A completed hosted checkout gets what it was quoted: its hold becomes this redemption, and
    // only a code gone from everywhere or another currency is refused.
    const quoted = input.quoted === true && coupon !== null;
    if (quoted) await takeHold(tx, code, input.customerId);
    const refused = quoted
      ? refusal(
          { ...coupon, archived: false, redeemBy: null, maxRedemptions: null },
          code,
          clock.now(),
          input.currency,
        )
      : refusal(
          coupon,
          code,
          clock.now(),
          input.currency,
          held,
          await liveHolds(tx, code, clock.now(), input.customerId),
        );
    if (refused) throw discountProblem(refused);
    const discountId = newId('dsc');
    const inserted = await insertDiscount(tx, {
      id: discountId,
      couponCode: code,
      customerId: input.customerId,
      subscriptionId: input.subscriptionId ?? null,
      redeemedAt: clock.now(),
    });
    if (inserted) {
      await (coupon?.source === 'config' ? countConfigRedemption(tx, code) : countRedemption(tx, code));
      return discountId;
    }
    const earlier = input.again
      ? await moveDiscount(tx, code, input.customerId, input.subscriptionId ?? null)
      : null;
    if (!earlier)
      throw discountProblem(
        new DiscountError('conflict', `This customer has already redeemed coupon "${code}".`),
      );
    return earlier;
  }

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
        if (coupons.inConfig(c.code)) throw inConfig(c.code);
        const coupon = { ...couponTerms(c), createdAt: clock.now().toISOString() };
        if (!(await insertCoupon(db, coupon)))
          throw new DiscountError('conflict', `Coupon "${c.code}" exists.`);
        return mustCoupon(c.code);
      }),
    listCoupons: () => coupons.list(db),
    getCoupon: (code) => guard(() => mustCoupon(code)),
    archiveCoupon: (code) =>
      guard(async () => {
        if (coupons.inConfig(normal(code))) throw inConfig(normal(code));
        await mustCoupon(code);
        await archiveCoupon(db, normal(code), clock.now());
        return mustCoupon(code);
      }),
    check: (code, currency, customerId) =>
      guard(async () => {
        const coupon = await coupons.find(db, normal(code));
        const held = customerId ? await holdsCoupon(db, normal(code), customerId) : false;
        const others = await liveHolds(db, normal(code), clock.now(), customerId);
        const refused = refusal(coupon, normal(code), clock.now(), currency, held, others);
        if (refused) throw refused;
        return coupon as Coupon;
      }),
    redeemIn,
    redeem: async (input) => mustDiscount(await store.transaction((tx) => redeemIn(tx, input))),
    hold: (input) =>
      guard(() =>
        store.transaction(async (tx) => {
          const code = normal(input.code);
          // Under the lock of the coupon's count, as a redemption: two quotes cannot both take the last.
          const coupon = await coupons.find(tx, code, true);
          const held = await holdsCoupon(tx, code, input.customerId);
          const others = await liveHolds(tx, code, clock.now(), input.customerId);
          const refused = refusal(coupon, code, clock.now(), input.currency, held, others);
          if (refused) throw refused;
          await putHold(tx, { ...input, code, at: clock.now() });
        }),
      ),
    listForCustomer: async (customerId) => withCoupons(await discountsOfCustomer(db, customerId)),
    remove: (discountId) =>
      guard(async () => {
        await mustDiscount(discountId);
        await removeDiscount(db, discountId, clock.now());
        return mustDiscount(discountId);
      }),
    async termsFor(sub, period, options = {}) {
      const rows = await discountsForPeriod(db, sub.customerId, sub.id, period);
      const withTerms = await withCoupons(rows.map((r) => r.discount));
      const terms: DiscountTerms[] = [];
      rows.forEach(({ periodsUsed, givenThisPeriod }, i) => {
        const discount = withTerms[i];
        const coupon = discount?.coupon;
        if (!discount || !coupon || !inForce(coupon, periodsUsed)) return;
        if (coupon.currency && coupon.currency !== sub.currency) return; // refused at redemption
        // A fixed amount is per period: what an earlier invoice of the period took is not given twice.
        const given = options.wholePeriod ? 0 : givenThisPeriod;
        const amountOff = coupon.amountOff ? new Decimal(coupon.amountOff).sub(given) : null;
        if (amountOff?.lte(0)) return;
        terms.push({
          id: discount.id,
          name: `Coupon ${coupon.code}`,
          ...(coupon.percentOff ? { percentOff: coupon.percentOff } : {}),
          ...(amountOff ? { amountOff: amountOff.toString() } : {}),
          ...(coupon.rateCardKeys.length ? { rateCardKeys: coupon.rateCardKeys } : {}),
        });
      });
      return terms;
    },
    async assertConfigCodes(next) {
      const declared = configCoupons(next);
      const both = new Set(
        await storedCodes(
          db,
          declared.map((c) => c.code),
        ),
      );
      const issues = declared.flatMap((c, i) =>
        both.has(c.code)
          ? [
              {
                path: `billing.coupons[${i}].code`,
                message: `coupon "${c.code}" also exists in the store (created through the admin API or CLI); rename one of them`,
              },
            ]
          : [],
      );
      if (issues.length > 0) throw new ConfigError('tollgate.config.ts', issues);
    },
  };
}
