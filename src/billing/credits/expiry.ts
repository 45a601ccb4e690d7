import { sql } from 'kysely';
import { Decimal } from '../../util/money.ts';
import type { Db } from '../model.ts';
import { insertEntry } from './ledger.ts';
import { PLAN_CREDITS } from './model.ts';
import { creditDb } from './tables.ts';

/**
 * What leaves the balance by time: grants past their expiry (what was not used expires), the
 * credits a plan included once their subscription ends, and reservations of calls that never
 * settled. Credits a plan includes for a period wait, past their expiry, for the invoice of the
 * last period they may pay (so the billing run and the expiry job may run in either order).
 */

/** A reservation not settled after this long belongs to a call that will never settle. */
const ABANDONED_AFTER = sql`interval '1 hour'`;
/** How far a run of the abandoned-reservation check looks back before the previous run's time. */
export const ABANDONED_MARGIN_MS = 10 * 60_000;
/** Plan credits past their expiry wait this long for their last invoice, at most (a canceled subscription). */
const PLAN_CREDITS_INVOICE_WAIT = sql`interval '31 days'`;

const remaining = sql<string>`cast(coalesce((select r.remaining from billing_credit_grant_remaining r where r.grant_id = g.id), g.amount) as text)`;
const notExpiredYet = sql<boolean>`not exists (select 1 from billing_credit_ledger e where e.grant_id = g.id and e.kind = 'expiry')`;

/** A grant and what is left of it. */
export interface GrantRemainder {
  id: string;
  customer_id: string;
  currency: string;
  remaining: string;
}

/** Grants past their expiry with no expiry row yet (plan credits once their last invoice exists). */
export async function dueGrants(db: Db, now: Date): Promise<GrantRemainder[]> {
  const subscriptionOfKey = sql<string>`split_part(substr(g.idempotency_key, strpos(g.idempotency_key, ':sub:') + 5), ':', 1)`;
  return creditDb(db)
    .selectFrom('billing_credit_ledger as g')
    .select(['g.id', 'g.customer_id', 'g.currency', remaining.as('remaining')])
    .where('g.kind', 'in', ['grant', 'topup'])
    .where('g.expires_at', 'is not', null)
    .where('g.expires_at', '<=', now)
    .where(notExpiredYet)
    .where((eb) =>
      eb.or([
        eb('g.idempotency_key', 'is', null),
        eb('g.idempotency_key', 'not like', `${PLAN_CREDITS}%`),
        eb('g.expires_at', '<=', sql<Date>`${now}::timestamptz - ${PLAN_CREDITS_INVOICE_WAIT}`),
        eb.exists(
          eb
            .selectFrom('billing_invoices as i')
            .select('i.id')
            .where('i.subscription_id', '=', subscriptionOfKey)
            .whereRef('i.period_to', '>=', 'g.expires_at')
            .where('i.idempotency_key', 'not like', '%:first:%'),
        ),
      ]),
    )
    .execute();
}

/** The credits a subscription's plan included that have not expired yet. */
export async function includedGrants(db: Db, subscriptionId: string, now: Date): Promise<GrantRemainder[]> {
  return creditDb(db)
    .selectFrom('billing_credit_ledger as g')
    .select(['g.id', 'g.customer_id', 'g.currency', remaining.as('remaining')])
    .where('g.kind', '=', 'grant')
    .where('g.idempotency_key', 'like', `${PLAN_CREDITS}%:sub:${subscriptionId}:%`)
    .where('g.expires_at', '>', now)
    .where(notExpiredYet)
    .execute();
}

/** Writes an expiry row for what is left of each grant; the customers whose balance changed. */
export async function expireRemainders(
  db: Db,
  at: Date,
  grants: GrantRemainder[],
  note: string,
): Promise<string[]> {
  const customers: string[] = [];
  for (const r of grants) {
    const left = new Decimal(r.remaining);
    if (left.lte(0)) continue;
    await insertEntry(db, at, {
      customerId: r.customer_id,
      currency: r.currency,
      kind: 'expiry',
      amount: left.neg(),
      grantId: r.id,
      idempotencyKey: `expiry:${r.id}`,
      note,
    });
    customers.push(r.customer_id);
  }
  return customers;
}

/**
 * A reservation whose call never settled (its gateway died mid-call) would hold the credit for
 * good: after an hour it is released. A settlement arriving later books nothing (the release
 * key is taken); the period's invoice then draws the call's usage like any other. `since`: only
 * reservations that came of age after it (older ones were seen by an earlier run); `at`: when
 * the releases are written.
 */
export async function releaseAbandoned(
  db: Db,
  check: { now: Date; since: Date | null; at: Date },
): Promise<string[]> {
  const { now, since } = check;
  const rows = await creditDb(db)
    .selectFrom('billing_credit_ledger as r')
    .select(['r.id', 'r.customer_id', 'r.currency', sql<string>`cast(r.amount as text)`.as('amount')])
    .where('r.kind', '=', 'reservation')
    .where('r.created_at', '<=', sql<Date>`${now}::timestamptz - ${ABANDONED_AFTER}`)
    .where((eb) =>
      since === null
        ? eb.lit(true)
        : eb('r.created_at', '>', sql<Date>`${since}::timestamptz - ${ABANDONED_AFTER}`),
    )
    .where(
      sql<boolean>`not exists (select 1 from billing_credit_ledger x where x.idempotency_key = 'release:' || r.id)`,
    )
    .execute();
  const customers: string[] = [];
  for (const r of rows) {
    await insertEntry(db, check.at, {
      customerId: r.customer_id,
      currency: r.currency,
      kind: 'release',
      amount: new Decimal(r.amount).neg(),
      idempotencyKey: `release:${r.id}`,
      note: 'Reservation of an unfinished call released',
    });
    customers.push(r.customer_id);
  }
  return customers;
}
