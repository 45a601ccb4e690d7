import type { Kysely } from 'kysely';
import type { BaseDatabase } from '../../store/index.ts';

/**
 * Holds on coupons quoted on a provider's hosted checkout, on typed tables: counted against the
 * coupon's redemptions while the provider's session is open, turned into the redemption when the
 * checkout completes. Written and counted under the lock of the coupon's redemption count (the
 * caller's transaction), as redemptions are.
 */
export type HoldTables = {
  billing_coupon_holds: {
    code: string;
    customer_id: string;
    session_id: string;
    expires_at: Date;
    created_at: Date;
  };
};

const typed = (db: Kysely<BaseDatabase>) => db.withTables<HoldTables>();

/** Holds on `code` still open at `now`, other than `exceptCustomerId`'s. */
export async function liveHolds(
  db: Kysely<BaseDatabase>,
  code: string,
  now: Date,
  exceptCustomerId?: string,
): Promise<number> {
  let query = typed(db)
    .selectFrom('billing_coupon_holds')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .where('code', '=', code)
    .where('expires_at', '>', now);
  if (exceptCustomerId) query = query.where('customer_id', '<>', exceptCustomerId);
  const row = await query.executeTakeFirstOrThrow();
  return Number(row.n);
}

/** The customer's hold on `code` for `sessionId` until `expiresAt` (a new session replaces the old one). */
export async function putHold(
  db: Kysely<BaseDatabase>,
  hold: { code: string; customerId: string; sessionId: string; expiresAt: Date; at: Date },
): Promise<void> {
  await typed(db)
    .insertInto('billing_coupon_holds')
    .values({
      code: hold.code,
      customer_id: hold.customerId,
      session_id: hold.sessionId,
      expires_at: hold.expiresAt,
      created_at: hold.at,
    })
    .onConflict((oc) =>
      oc
        .columns(['code', 'customer_id'])
        .doUpdateSet({ session_id: hold.sessionId, expires_at: hold.expiresAt }),
    )
    .execute();
}

/** Drops the customer's hold on `code` (it became the redemption); whether there was one. */
export async function takeHold(db: Kysely<BaseDatabase>, code: string, customerId: string): Promise<boolean> {
  const row = await typed(db)
    .deleteFrom('billing_coupon_holds')
    .where('code', '=', code)
    .where('customer_id', '=', customerId)
    .returning('code')
    .executeTakeFirst();
  return row !== undefined;
}
