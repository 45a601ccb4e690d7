import { sql } from 'kysely';
import { Decimal, formatMoney } from '../../util/money.ts';
import { type Db, iso } from '../model.ts';
import { selectEntries, toEntry } from './ledger.ts';
import type { CreditAccount, CreditEntry, CreditsService } from './model.ts';
import { creditDb } from './tables.ts';

/**
 * What a customer and an operator read about credits: the full ledger, the account page (a few
 * rows however long the ledger is: the sums kept beside it, the next expiry and the newest
 * entries through indexes), the currencies used, and the settings (credits-only, auto-recharge).
 */
const text = (column: string) => sql<string>`cast(${sql.ref(column)} as text)`;

/**
 * Not a hold for a call in flight: holds are a reservation, or the release that gives it back
 * when the call settles or is abandoned (`release:<reservation id>`, with neither grant nor
 * invoice: the other releases give credit back to a grant or an invoice). The same test as the
 * partial index `billing_credit_ledger_shown` (migration 0506), so the newest entries are read
 * from it.
 */
const NOT_HOLD = sql<boolean>`kind <> 'reservation' and (kind <> 'release' or grant_id is not null or invoice_id is not null)`;

export async function ledger(db: Db, customerId: string, currency?: string): Promise<CreditEntry[]> {
  let query = selectEntries(creditDb(db)).where('customer_id', '=', customerId);
  if (currency !== undefined) query = query.where('currency', '=', currency);
  return (await query.orderBy('seq', 'asc').execute()).map(toEntry);
}

/** The soonest-expiring grant with something left (ties in expiry go to the older grant). */
async function nextExpiring(db: Db, customerId: string, currency: string, now: Date) {
  const left = sql<string>`coalesce(r.remaining, g.amount)`;
  return creditDb(db)
    .selectFrom('billing_credit_ledger as g')
    .leftJoin('billing_credit_grant_remaining as r', 'r.grant_id', 'g.id')
    .select(['g.id', sql<string>`cast(${left} as text)`.as('remaining'), 'g.expires_at'])
    .where('g.customer_id', '=', customerId)
    .where('g.currency', '=', currency)
    .where('g.kind', 'in', ['grant', 'topup'])
    .where('g.expires_at', '>', now)
    .where(sql<boolean>`${left} > 0`)
    .orderBy('g.expires_at', 'asc')
    .orderBy('g.seq', 'asc')
    .limit(1)
    .executeTakeFirst();
}

export async function account(
  db: Db,
  now: Date,
  customerId: string,
  currency: string,
  recent: number,
): Promise<CreditAccount> {
  const sums = await creditDb(db)
    .selectFrom('billing_credit_balances')
    .select([text('balance').as('balance'), text('held').as('held')])
    .where('customer_id', '=', customerId)
    .where('currency', '=', currency)
    .executeTakeFirst();
  const expiring = await nextExpiring(db, customerId, currency, now);
  const rows = await selectEntries(creditDb(db))
    .where('customer_id', '=', customerId)
    .where('currency', '=', currency)
    .where(NOT_HOLD)
    .orderBy('seq', 'desc')
    .limit(Math.max(0, Math.floor(recent)))
    .execute();
  return {
    currency,
    balance: formatMoney(new Decimal(sums?.balance ?? 0), currency),
    held: formatMoney(Decimal.max(new Decimal(sums?.held ?? 0), 0), currency),
    nextExpiry:
      expiring?.expires_at != null
        ? {
            grantId: expiring.id,
            amount: formatMoney(new Decimal(expiring.remaining), currency),
            expiresAt: iso(expiring.expires_at) as string,
          }
        : null,
    recent: rows.map(toEntry),
  };
}

/** The currencies the customer has credits in, first used first. */
export async function currencies(db: Db, customerId: string): Promise<string[]> {
  const rows = await creditDb(db)
    .selectFrom('billing_credit_balances as b')
    .select('b.currency')
    .where('b.customer_id', '=', customerId)
    .orderBy(
      sql`(select min(l.seq) from billing_credit_ledger l where l.customer_id = b.customer_id and l.currency = b.currency) asc nulls last`,
    )
    .orderBy('b.currency')
    .execute();
  return rows.map((r) => r.currency);
}

type Settings = Awaited<ReturnType<CreditsService['settings']>>;

export async function settings(db: Db, customerId: string, currency: string): Promise<Settings> {
  const row = await creditDb(db)
    .selectFrom('billing_credit_settings')
    .select([
      'credits_only',
      text('auto_recharge_threshold').as('threshold'),
      text('auto_recharge_amount').as('amount'),
    ])
    .where('customer_id', '=', customerId)
    .where('currency', '=', currency)
    .executeTakeFirst();
  return {
    creditsOnly: row?.credits_only ?? false,
    autoRecharge:
      row?.threshold && row.amount
        ? { threshold: formatMoney(row.threshold, currency), amount: formatMoney(row.amount, currency) }
        : null,
  };
}

export async function configure(db: Db, input: Parameters<CreditsService['configure']>[0]): Promise<void> {
  // `autoRecharge` absent keeps the stored one; null clears it.
  const recharge = input.autoRecharge !== undefined;
  await creditDb(db)
    .insertInto('billing_credit_settings')
    .values({
      customer_id: input.customerId,
      currency: input.currency,
      credits_only: input.creditsOnly ?? false,
      auto_recharge_threshold: input.autoRecharge?.threshold ?? null,
      auto_recharge_amount: input.autoRecharge?.amount ?? null,
    })
    .onConflict((oc) =>
      oc.columns(['customer_id', 'currency']).doUpdateSet((eb) => ({
        credits_only: input.creditsOnly ?? eb.ref('billing_credit_settings.credits_only'),
        auto_recharge_threshold: recharge
          ? (input.autoRecharge?.threshold ?? null)
          : eb.ref('billing_credit_settings.auto_recharge_threshold'),
        auto_recharge_amount: recharge
          ? (input.autoRecharge?.amount ?? null)
          : eb.ref('billing_credit_settings.auto_recharge_amount'),
      })),
    )
    .execute();
}

/** Credits-only customers with their balance per currency (all, or one customer's). */
export async function creditsOnlyBalances(db: Db, customerId?: string) {
  let query = creditDb(db)
    .selectFrom('billing_credit_settings as s')
    .select([
      's.customer_id',
      's.currency',
      sql<string>`cast(coalesce((select b.balance from billing_credit_balances b
          where b.customer_id = s.customer_id and b.currency = s.currency), 0) as text)`.as('balance'),
    ])
    .where('s.credits_only', '=', true);
  if (customerId !== undefined) query = query.where('s.customer_id', '=', customerId);
  return query.execute();
}
