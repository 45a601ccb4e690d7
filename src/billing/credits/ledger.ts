import { type Expression, type SqlBool, sql } from 'kysely';
import { newId } from '../../util/ids.ts';
import { Decimal } from '../../util/money.ts';
import { type Db, iso } from '../model.ts';
import type { CreditEntry } from './model.ts';
import { PLAN_CREDITS } from './model.ts';
import { type CreditDb, creditDb, type LedgerKind } from './tables.ts';

/**
 * The credit ledger's rows: appending one, reading them, and the running sums kept beside it
 * (balances, what is left of each grant; migration 0505). Money is read as text.
 */
const text = (column: string) => sql<string>`cast(${sql.ref(column)} as text)`;

/** A ledger entry's columns (amount as text), for `select` and `returning`. */
const ENTRY_COLUMNS = [
  'id',
  'customer_id',
  'currency',
  'kind',
  text('amount').as('amount'),
  'grant_id',
  'expires_at',
  'invoice_id',
  'note',
  'created_at',
] as const;

export function selectEntries(db: CreditDb) {
  return db.selectFrom('billing_credit_ledger').select(ENTRY_COLUMNS);
}

type EntryRow = Awaited<ReturnType<ReturnType<typeof selectEntries>['execute']>>[number];

export function toEntry(r: EntryRow): CreditEntry {
  return {
    id: r.id,
    customerId: r.customer_id,
    currency: r.currency,
    kind: r.kind,
    amount: new Decimal(r.amount).toString(),
    grantId: r.grant_id,
    expiresAt: iso(r.expires_at),
    invoiceId: r.invoice_id,
    note: r.note,
    createdAt: iso(r.created_at) as string,
  };
}

export interface NewEntry {
  customerId: string;
  currency: string;
  kind: LedgerKind;
  amount: Decimal;
  grantId?: string | null;
  expiresAt?: Date | null;
  invoiceId?: string | null;
  note?: string | null;
  idempotencyKey?: string | null;
}

/** Appends a row; null when its idempotency key was taken already (written before). */
export async function insertEntry(on: Db, at: Date, entry: NewEntry): Promise<CreditEntry | null> {
  const row = await creditDb(on)
    .insertInto('billing_credit_ledger')
    .values({
      id: newId('crd'),
      customer_id: entry.customerId,
      currency: entry.currency,
      kind: entry.kind,
      amount: entry.amount.toString(),
      grant_id: entry.grantId ?? null,
      expires_at: entry.expiresAt ?? null,
      invoice_id: entry.invoiceId ?? null,
      idempotency_key: entry.idempotencyKey ?? null,
      note: entry.note ?? null,
      created_at: at,
    })
    .onConflict((oc) => oc.column('idempotency_key').doNothing())
    .returning(ENTRY_COLUMNS)
    .executeTakeFirst();
  return row ? toEntry(row) : null;
}

export async function entryByKey(on: Db, idempotencyKey: string): Promise<CreditEntry | null> {
  const row = await selectEntries(creditDb(on))
    .where('idempotency_key', '=', idempotencyKey)
    .executeTakeFirst();
  return row ? toEntry(row) : null;
}

/** Until the transaction ends: the customer's balance in this currency changes under one writer. */
export async function lockCustomer(tx: Db, customerId: string, currency: string): Promise<void> {
  await sql`select pg_advisory_xact_lock(hashtext(${`credits:${customerId}:${currency}`}))`.execute(tx);
}

export async function balanceOf(on: Db, customerId: string, currency: string): Promise<Decimal> {
  const row = await creditDb(on)
    .selectFrom('billing_credit_balances')
    .select(text('balance').as('balance'))
    .where('customer_id', '=', customerId)
    .where('currency', '=', currency)
    .executeTakeFirst();
  return new Decimal(row?.balance ?? 0);
}

/** What is left of a grant: its running sum, or its amount before anything drew on it. */
const remainingOf = sql<string>`cast(coalesce((select r.remaining from billing_credit_grant_remaining r where r.grant_id = g.id), g.amount) as text)`;

const isGrant = (db: CreditDb) =>
  db.selectFrom('billing_credit_ledger as g').where('g.kind', 'in', ['grant', 'topup']);

export async function grantRemaining(on: Db, grantId: string): Promise<Decimal | null> {
  const row = await isGrant(creditDb(on))
    .select(remainingOf.as('remaining'))
    .where('g.id', '=', grantId)
    .executeTakeFirst();
  return row ? new Decimal(row.remaining) : null;
}

/** Grants a call's usage may draw (not expired), with what is left of each, soonest expiry first. */
export async function openGrants(on: Db, customerId: string, currency: string, now: Date) {
  return isGrant(creditDb(on))
    .select(['g.id', remainingOf.as('remaining'), 'g.expires_at'])
    .where('g.customer_id', '=', customerId)
    .where('g.currency', '=', currency)
    .where((eb) => eb.or([eb('g.expires_at', 'is', null), eb('g.expires_at', '>', now)]))
    .orderBy(sql`g.expires_at asc nulls last`)
    .orderBy('g.seq', 'asc')
    .execute();
}

/**
 * Grants an invoice may draw, soonest expiry first: those not expired, and for a subscription
 * period's invoice the credits its plan included for that period or for an earlier one whose
 * credits had not expired when this period started (until their expiry row is written).
 */
export async function invoiceGrants(
  on: Db,
  customerId: string,
  currency: string,
  now: Date,
  period: { subscriptionKey: string; from: Date } | null,
) {
  const included = sql<boolean>`coalesce(g.idempotency_key like ${`${PLAN_CREDITS}%`}, false)`;
  const key = period?.subscriptionKey ?? null;
  // The plan's credits of a period of this subscription that started by this one, not expired.
  const usable: Expression<SqlBool> = sql<SqlBool>`case when g.idempotency_key like ${`${PLAN_CREDITS}%`}
      then ${key}::text is not null and strpos(g.idempotency_key, ':' || ${key}::text) > 0
           and substr(g.idempotency_key, strpos(g.idempotency_key, ':' || ${key}::text) + 1 + length(${key}::text))::timestamptz <= ${period?.from ?? null}
           and (g.expires_at is null or g.expires_at > ${period?.from ?? null})
           and not exists (select 1 from billing_credit_ledger e where e.grant_id = g.id and e.kind = 'expiry')
      else g.expires_at is null or g.expires_at > ${now} end`;
  return isGrant(creditDb(on))
    .select(['g.id', remainingOf.as('remaining'), included.as('included')])
    .where('g.customer_id', '=', customerId)
    .where('g.currency', '=', currency)
    .where(usable)
    .orderBy(sql`g.expires_at asc nulls last`)
    .orderBy('g.seq', 'asc')
    .execute();
}

/** Whether the grant's remainder has expired already (an expiry row was written for it). */
export async function hasExpired(on: Db, grantId: string): Promise<boolean> {
  const row = await creditDb(on)
    .selectFrom('billing_credit_ledger')
    .select('id')
    .where('grant_id', '=', grantId)
    .where('kind', '=', 'expiry')
    .executeTakeFirst();
  return row !== undefined;
}
