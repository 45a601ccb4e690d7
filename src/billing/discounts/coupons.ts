import type { Kysely } from 'kysely';
import type { ResolvedConfig } from '../../config/index.ts';
import type { BaseDatabase } from '../../store/index.ts';
import type { ConfigCoupon, Coupon } from './model.ts';
import { configRedemptions, couponByCode, listCoupons, lockConfigRedemptions } from './repo.ts';

/**
 * Where a coupon's terms come from: the live config (`billing.coupons`, reviewed with the code)
 * or the store (admin API, CLI). Nothing is copied from one to the other; a config coupon's
 * redemptions alone are counted in the store. The config wins no tie: a code in both is a config
 * error (`conflictingCodes`), refused at start and on reload.
 */
export interface CouponSource {
  /** The coupon with `code` (upper case), or null. `lock`: its redemption count, for a redemption. */
  find(db: Kysely<BaseDatabase>, code: string, lock?: boolean): Promise<Coupon | null>;
  /** Config coupons first (in config order), then stored ones (oldest first). */
  list(db: Kysely<BaseDatabase>): Promise<Coupon[]>;
  inConfig(code: string): boolean;
}

export function configCoupons(config: Pick<ResolvedConfig, 'billing'>): ConfigCoupon[] {
  return config.billing.coupons ?? [];
}

/** A coupon's terms as declared in the config or sent to the admin API, with defaults filled in. */
export function couponTerms(c: Omit<ConfigCoupon, 'archived'>) {
  return {
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
  };
}

function fromConfig(c: ConfigCoupon, timesRedeemed: number): Coupon {
  return {
    ...couponTerms(c),
    timesRedeemed,
    createdAt: null,
    archivedAt: null,
    archived: c.archived,
    source: 'config',
  };
}

export function couponSource(config: () => Pick<ResolvedConfig, 'billing'>): CouponSource {
  const declared = (code: string) => configCoupons(config()).find((c) => c.code === code);
  return {
    inConfig: (code) => declared(code) !== undefined,
    async find(db, code, lock = false) {
      const own = declared(code);
      if (!own) return couponByCode(db, code, lock);
      const times = lock
        ? await lockConfigRedemptions(db, code)
        : ((await configRedemptions(db, [code])).get(code) ?? 0);
      return fromConfig(own, times);
    },
    async list(db) {
      const own = configCoupons(config());
      const counts = await configRedemptions(
        db,
        own.map((c) => c.code),
      );
      return [...own.map((c) => fromConfig(c, counts.get(c.code) ?? 0)), ...(await listCoupons(db))];
    },
  };
}
