import { ProblemError, problems } from '../http/problem.ts';
import type { Clock } from '../util/clock.ts';
import { newId } from '../util/ids.ts';
import { Decimal, formatMoney } from '../util/money.ts';
import { type Db, iso, sqlRows } from './model.ts';

/**
 * Prepaid credits. Every movement is a ledger row (grant, top-up, usage, expiry, refund,
 * reservation, release); a balance is a sum, never an edited number. The sums (per customer and
 * currency, and what is left of each grant) are kept by a trigger in the same transaction as
 * each row (migration 0505), so reading a balance costs one row however long the ledger grows;
 * so is what calls in flight hold (0506). `account` reads the rest of what a customer sees (next
 * expiry, newest entries) through indexes, so it too stays a few rows.
 * Drawdowns consume grants in order of expiry (soonest first, then oldest), so what expires is
 * what was not used.
 *
 * Gateway check: customers marked credits-only are refused with 402 `credits-exhausted` once
 * their balance is at or below zero. The check is synchronous (a Map lookup) so it fits the
 * gateway's hot path; the map is refreshed on every ledger write in this process and on the
 * `credits` change-feed topic from other nodes.
 *
 * Reservations (AI calls): `reserve` takes an estimate off the balance before the call and
 * refuses when the balance is below it; `settle` releases the reservation and books the actual
 * usage. The balance can go below zero only by `actual − reserved` of calls in flight, which is
 * the documented bound (reserve the model's max tokens to make it zero). Reservations of one
 * customer are taken one at a time (an advisory lock), so concurrent calls cannot all pass the
 * same balance.
 *
 * Invoices: usage booked in real time (`settle`, no invoice yet) before the end of a subscription
 * period is claimed by that period's invoice as credits already applied, and only the rest of the
 * invoice is drawn from grants; if the real-time bookings came to more than the invoice (a
 * tiered price with included units), the difference goes back to the grants it came from.
 * Credits a plan includes for a period (idempotency key `plan-credits:…:<invoice key>`) pay only
 * usage charges, on the invoices of their subscription's periods that started before they
 * expire (with the default expiry: their own period's), and their expiry waits for the last of
 * those invoices, so the billing run and the expiry job may run in either order.
 */
export interface CreditEntry {
  id: string;
  customerId: string;
  currency: string;
  kind: 'grant' | 'topup' | 'usage' | 'expiry' | 'refund' | 'reservation' | 'release';
  amount: string;
  grantId: string | null;
  expiresAt: string | null;
  invoiceId: string | null;
  note: string | null;
  createdAt: string;
}

interface LedgerRow {
  id: string;
  customer_id: string;
  currency: string;
  kind: CreditEntry['kind'];
  amount: string;
  grant_id: string | null;
  expires_at: Date | string | null;
  invoice_id: string | null;
  note: string | null;
  created_at: Date | string;
}

const LEDGER_COLUMNS =
  'id, customer_id, currency, kind, amount::text as amount, grant_id, expires_at, invoice_id, note, created_at';

/** A grant and what is left of it. */
interface GrantRemainder {
  id: string;
  customer_id: string;
  currency: string;
  remaining: string;
}

function toEntry(r: LedgerRow): CreditEntry {
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

/**
 * A hold for a call in flight: a reservation, or the release that gives it back when the call
 * settles or is abandoned (`release:<reservation id>`, with neither grant nor invoice: the other
 * releases give credit back to a grant or an invoice). The same test as the partial index
 * `billing_credit_ledger_shown` (migration 0506), so the newest entries are read from it.
 */
const NOT_HOLD =
  "kind <> 'reservation' and (kind <> 'release' or grant_id is not null or invoice_id is not null)";

/** One customer's credits in one currency, read in a few rows however long the ledger is. */
export interface CreditAccount {
  currency: string;
  balance: string;
  /** Taken by reservations of calls in flight (no release yet). */
  held: string;
  /** What is left of the soonest-expiring grant that has something left, if any expires. */
  nextExpiry: { grantId: string; amount: string; expiresAt: string } | null;
  /** The newest entries, newest first, without holds (reservations and their releases). */
  recent: CreditEntry[];
}

/** Ledger key of the credits a plan includes for one subscription period. */
export function planCreditsKey(planKey: string, subscriptionId: string, periodFrom: Date): string {
  return `${PLAN_CREDITS}${planKey}:${periodInvoiceKey(subscriptionId, periodFrom)}`;
}

const PLAN_CREDITS = 'plan-credits:';

/** The billing run's invoice key of a subscription period (see `periodInvoice` in service.ts). */
const periodInvoiceKey = (subscriptionId: string, periodFrom: Date) =>
  `sub:${subscriptionId}:${periodFrom.toISOString()}`;

/** `sub:<subscription>:` of a period invoice's key. */
const subscriptionKeyOf = (invoiceKey: string, periodFrom: Date) =>
  invoiceKey.slice(0, invoiceKey.length - periodFrom.toISOString().length);

const isPeriodInvoiceKey = (key: string | undefined): key is string =>
  key?.startsWith('sub:') === true && !key.includes(':first:');

/** Plan-included credits pay usage charges only, not the plan's fees (tax included pro rata). */
const USAGE_LINE_KINDS = new Set(['usage', 'minimum_spend', 'maximum_spend']);

function usageShare(lines: readonly { kind: string; amount: string }[], total: Decimal): Decimal {
  let subtotal = new Decimal(0);
  let usage = new Decimal(0);
  for (const line of lines) {
    subtotal = subtotal.add(line.amount);
    if (USAGE_LINE_KINDS.has(line.kind)) usage = usage.add(line.amount);
  }
  if (subtotal.lte(0) || usage.lte(0)) return new Decimal(0);
  return Decimal.min(total, usage.mul(total).div(subtotal));
}

/** A reservation not settled after this long belongs to a call that will never settle. */
const ABANDONED_AFTER = "interval '1 hour'";
/** How far a run of the abandoned-reservation check looks back before the previous run's time. */
const ABANDONED_MARGIN_MS = 10 * 60_000;

/** Plan credits past their expiry wait this long for their last invoice, at most (a canceled subscription). */
const PLAN_CREDITS_INVOICE_WAIT = "interval '31 days'";

export const creditsExhausted = (
  customerId: string,
  currency: string,
  call?: { balance: string; reserve: string },
) =>
  new ProblemError({
    status: 402,
    type: 'credits-exhausted',
    title: 'Prepaid credits exhausted',
    detail: call
      ? `The prepaid ${currency} credit balance of this account (${call.balance}) does not cover the ${call.reserve} this call may cost. Top up credits in the developer portal to continue.`
      : `The prepaid ${currency} credit balance of this account is used up. Top up credits in the developer portal to continue.`,
    extensions: call
      ? { customerId, currency, balance: call.balance, reserve: call.reserve }
      : { customerId, currency },
  });

export interface CreditsService {
  balance(customerId: string, currency: string, db?: Db): Promise<string>;
  /**
   * Every entry, oldest first: the full history (admin API, CLI). It reads the whole ledger, which
   * for a credits-only customer is a few rows per API call ever made; pages shown on every visit
   * read `account` instead.
   */
  ledger(customerId: string, currency?: string): Promise<CreditEntry[]>;
  /** Balance, holds, next expiry and the newest `recent` entries (default 100) without holds. */
  account(customerId: string, currency: string, options?: { recent?: number }): Promise<CreditAccount>;
  /** The currencies the customer has credits in (has had a ledger entry in), first used first. */
  currencies(customerId: string): Promise<string[]>;
  grant(input: {
    customerId: string;
    currency: string;
    amount: string;
    kind?: 'grant' | 'topup';
    expiresAt?: Date | null;
    note?: string;
    idempotencyKey?: string;
    db?: Db;
  }): Promise<CreditEntry>;
  /**
   * Draws up to `amount` from the balance for an invoice; returns what was applied. With the
   * invoice's key, period and lines, a subscription period's invoice also claims the usage booked
   * in real time during the period and may use the credits its plan included for it.
   */
  drawdown(
    db: Db,
    input: {
      customerId: string;
      currency: string;
      amount: string;
      invoiceId: string;
      invoiceKey?: string;
      period?: { from: Date; to: Date };
      lines?: readonly { kind: string; amount: string }[];
    },
  ): Promise<string>;
  /** Refunds (part of) a top-up: the money goes back through the rail, the credit leaves the ledger. */
  refund(input: { grantId: string; amount: string; note?: string }): Promise<CreditEntry>;
  /** Writes expiry rows for grants past their expiry that still have a remainder. */
  expireDue(now?: Date): Promise<number>;
  /**
   * A subscription ended before its included credits expire (canceled now): what is left of
   * them expires at once, so a cancel and a new subscription cannot collect a period's credits twice.
   */
  expireIncluded(subscriptionId: string): Promise<number>;
  reserve(input: {
    customerId: string;
    currency: string;
    amount: string;
  }): Promise<{ reservationId: string }>;
  settle(input: { reservationId: string; actual: string }): Promise<void>;
  configure(input: {
    customerId: string;
    currency: string;
    creditsOnly?: boolean;
    autoRecharge?: { threshold: string; amount: string } | null;
  }): Promise<void>;
  settings(
    customerId: string,
    currency: string,
  ): Promise<{
    creditsOnly: boolean;
    autoRecharge: { threshold: string; amount: string } | null;
  }>;
  /** Synchronous gateway check: a 402 problem for a credits-only customer at zero, else null. */
  accessCheck(customerId: string): ProblemError | null;
  /** Synchronous: the currency of a credits-only customer's balance, or null (not credits-only). */
  creditsOnlyCurrency(customerId: string): string | null;
  /** Reloads the credits-only balances (start-up, change feed). */
  refresh(customerId?: string): Promise<void>;
}

export function createCreditsService(options: {
  db: Db;
  clock: Clock;
  onChange?: (customerId: string) => void;
  /**
   * A call's usage was booked in real time (credits-only customers): billing checks the
   * customer's auto-recharge threshold, as it does after an invoice draws credits.
   */
  onSpent?: (customerId: string, currency: string) => void;
}): CreditsService {
  const { db, clock } = options;
  /** credits-only customers → (currency → balance) */
  const creditsOnly = new Map<string, Map<string, Decimal>>();
  /** When the abandoned-reservation check last ran in this process (it then saw all older ones). */
  let abandonedCheckedUntil: Date | null = null;

  async function balanceOf(customerId: string, currency: string, on: Db = db): Promise<Decimal> {
    const [row] = await sqlRows<{ balance: string | null }>(
      on,
      'select coalesce((select balance from billing_credit_balances where customer_id = $1 and currency = $2), 0)::text as balance',
      [customerId, currency],
    );
    return new Decimal(row?.balance ?? 0);
  }

  async function refresh(customerId?: string): Promise<void> {
    const rows = await sqlRows<{ customer_id: string; currency: string; balance: string }>(
      db,
      `select s.customer_id, s.currency,
              coalesce((select b.balance from billing_credit_balances b
                        where b.customer_id = s.customer_id and b.currency = s.currency), 0)::text as balance
       from billing_credit_settings s
       where s.credits_only and ($1::text is null or s.customer_id = $1)`,
      [customerId ?? null],
    );
    if (customerId) creditsOnly.delete(customerId);
    else creditsOnly.clear();
    for (const r of rows) {
      let byCurrency = creditsOnly.get(r.customer_id);
      if (!byCurrency) {
        byCurrency = new Map();
        creditsOnly.set(r.customer_id, byCurrency);
      }
      byCurrency.set(r.currency, new Decimal(r.balance));
    }
  }

  async function changed(customerId: string): Promise<void> {
    await refresh(customerId);
    options.onChange?.(customerId);
  }

  async function insert(
    on: Db,
    entry: {
      customerId: string;
      currency: string;
      kind: CreditEntry['kind'];
      amount: Decimal;
      grantId?: string | null;
      expiresAt?: Date | null;
      invoiceId?: string | null;
      note?: string | null;
      idempotencyKey?: string | null;
    },
  ): Promise<CreditEntry | null> {
    const [row] = await sqlRows<LedgerRow>(
      on,
      `insert into billing_credit_ledger
         (id, customer_id, currency, kind, amount, grant_id, expires_at, invoice_id, idempotency_key, note, created_at)
       values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
       on conflict (idempotency_key) do nothing
       returning ${LEDGER_COLUMNS}`,
      [
        newId('crd'),
        entry.customerId,
        entry.currency,
        entry.kind,
        entry.amount.toString(),
        entry.grantId ?? null,
        entry.expiresAt ?? null,
        entry.invoiceId ?? null,
        entry.idempotencyKey ?? null,
        entry.note ?? null,
        clock.now(),
      ],
    );
    return row ? toEntry(row) : null;
  }

  /** Until the transaction ends: the customer's balance in this currency changes under one writer. */
  async function lockCustomer(tx: Db, customerId: string, currency: string): Promise<void> {
    await sqlRows(tx, 'select pg_advisory_xact_lock(hashtext($1))', [`credits:${customerId}:${currency}`]);
  }

  /** Grants with what is left of each, soonest expiry first. */
  async function openGrants(on: Db, customerId: string, currency: string) {
    return sqlRows<{ id: string; remaining: string; expires_at: Date | string | null }>(
      on,
      `select g.id, coalesce((select r.remaining from billing_credit_grant_remaining r where r.grant_id = g.id), g.amount)::text as remaining,
              g.expires_at
       from billing_credit_ledger g
       where g.customer_id = $1 and g.currency = $2 and g.kind in ('grant', 'topup')
         and (g.expires_at is null or g.expires_at > $3)
       order by g.expires_at asc nulls last, g.seq asc`,
      [customerId, currency, clock.now()],
    );
  }

  /**
   * Grants an invoice may draw, soonest expiry first: those not expired, and for a subscription
   * period's invoice the credits its plan included for that period or for an earlier one whose
   * credits had not expired when this period started (until their expiry row is written).
   */
  async function invoiceGrants(
    on: Db,
    customerId: string,
    currency: string,
    period: { subscriptionKey: string; from: Date } | null,
  ) {
    return sqlRows<{ id: string; remaining: string; included: boolean }>(
      on,
      `select g.id, coalesce((select r.remaining from billing_credit_grant_remaining r where r.grant_id = g.id), g.amount)::text as remaining,
              coalesce(g.idempotency_key like '${PLAN_CREDITS}%', false) as included
       from billing_credit_ledger g
       where g.customer_id = $1 and g.currency = $2 and g.kind in ('grant', 'topup')
         and case when g.idempotency_key like '${PLAN_CREDITS}%'
                  then $4::text is not null and strpos(g.idempotency_key, ':' || $4::text) > 0
                       and substr(g.idempotency_key, strpos(g.idempotency_key, ':' || $4::text) + 1 + length($4::text))::timestamptz <= $5
                       and (g.expires_at is null or g.expires_at > $5)
                       and not exists (select 1 from billing_credit_ledger e where e.grant_id = g.id and e.kind = 'expiry')
                  else g.expires_at is null or g.expires_at > $3 end
       order by g.expires_at asc nulls last, g.seq asc`,
      [customerId, currency, clock.now(), period?.subscriptionKey ?? null, period?.from ?? null],
    );
  }

  /**
   * The period's usage the gateway booked in real time, claimed by its invoice (once: the claim
   * is part of the invoice's transaction). Returns the rows, newest last.
   */
  async function claimRealtimeUsage(
    on: Db,
    input: { customerId: string; currency: string; invoiceId: string; periodTo: Date },
  ) {
    const rows = await sqlRows<{ id: string; amount: string; grant_id: string | null; seq: string }>(
      on,
      `update billing_credit_ledger set invoice_id = $3
       where customer_id = $1 and currency = $2 and kind = 'usage' and invoice_id is null and created_at < $4
       returning id, amount::text as amount, grant_id, seq::text as seq`,
      [input.customerId, input.currency, input.invoiceId, input.periodTo],
    );
    return rows.sort((a, b) => Number(a.seq) - Number(b.seq));
  }

  /** Real-time bookings above the invoice go back to the grants they came from, newest first. */
  async function returnExcess(
    on: Db,
    input: { customerId: string; currency: string; invoiceId: string },
    claimed: { id: string; amount: string; grant_id: string | null }[],
    excess: Decimal,
  ): Promise<void> {
    let left = excess;
    for (const row of [...claimed].reverse()) {
      if (left.lte(0)) break;
      const back = Decimal.min(left, new Decimal(row.amount).neg());
      left = left.sub(back);
      if (back.lte(0)) continue;
      if (row.grant_id !== null) {
        // A grant that has already expired keeps nothing back: the credit would have expired unused.
        const [expired] = await sqlRows<{ n: number }>(
          on,
          `select count(*)::int as n from billing_credit_ledger where grant_id = $1 and kind = 'expiry'`,
          [row.grant_id],
        );
        if ((expired?.n ?? 0) > 0) continue;
      }
      await insert(on, {
        customerId: input.customerId,
        currency: input.currency,
        kind: 'release',
        amount: back,
        grantId: row.grant_id,
        invoiceId: input.invoiceId,
        idempotencyKey: `usage-return:${input.invoiceId}:${row.id}`,
        note: 'Real-time usage above the invoice, returned',
      });
    }
  }

  /**
   * A reservation whose call never settled (its gateway died mid-call) would hold the credit for
   * good: after an hour it is released. A settlement arriving later books nothing (the release
   * key is taken); the period's invoice then draws the call's usage like any other.
   */
  async function releaseAbandoned(now: Date): Promise<void> {
    // Each run looks only at reservations that came of age since the one before (with a margin
    // for clocks of other nodes): older ones were released by then or settled. The first run of
    // a process looks at all of them.
    const since =
      abandonedCheckedUntil && abandonedCheckedUntil <= now
        ? new Date(abandonedCheckedUntil.getTime() - ABANDONED_MARGIN_MS)
        : null;
    const rows = await sqlRows<{ id: string; customer_id: string; currency: string; amount: string }>(
      db,
      `select r.id, r.customer_id, r.currency, r.amount::text as amount from billing_credit_ledger r
       where r.kind = 'reservation' and r.created_at <= $1::timestamptz - ${ABANDONED_AFTER}
         and ($2::timestamptz is null or r.created_at > $2::timestamptz - ${ABANDONED_AFTER})
         and not exists (select 1 from billing_credit_ledger x where x.idempotency_key = 'release:' || r.id)`,
      [now, since],
    );
    for (const r of rows) {
      await insert(db, {
        customerId: r.customer_id,
        currency: r.currency,
        kind: 'release',
        amount: new Decimal(r.amount).neg(),
        idempotencyKey: `release:${r.id}`,
        note: 'Reservation of an unfinished call released',
      });
      await changed(r.customer_id);
    }
    abandonedCheckedUntil = now;
  }

  /** Writes an expiry row for what is left of each grant; returns how many it wrote. */
  async function expireRemainders(grants: GrantRemainder[], note: string): Promise<number> {
    let count = 0;
    for (const r of grants) {
      const remaining = new Decimal(r.remaining);
      if (remaining.lte(0)) continue;
      await insert(db, {
        customerId: r.customer_id,
        currency: r.currency,
        kind: 'expiry',
        amount: remaining.neg(),
        grantId: r.id,
        idempotencyKey: `expiry:${r.id}`,
        note,
      });
      count++;
      await changed(r.customer_id);
    }
    return count;
  }

  const service: CreditsService = {
    async balance(customerId, currency, on) {
      return formatMoney(await balanceOf(customerId, currency, on), currency);
    },
    async ledger(customerId, currency) {
      const rows = await sqlRows<LedgerRow>(
        db,
        `select ${LEDGER_COLUMNS}
         from billing_credit_ledger where customer_id = $1 and ($2::text is null or currency = $2)
         order by seq asc`,
        [customerId, currency ?? null],
      );
      return rows.map(toEntry);
    },
    async account(customerId, currency, options = {}) {
      const recent = options.recent ?? 100;
      const [sums] = await sqlRows<{ balance: string; held: string }>(
        db,
        `select coalesce(max(balance), 0)::text as balance, coalesce(max(held), 0)::text as held
         from billing_credit_balances where customer_id = $1 and currency = $2`,
        [customerId, currency],
      );
      // Grants used up before their expiry are passed over; ties in expiry go to the older grant.
      const [expiring] = await sqlRows<{ id: string; remaining: string; expires_at: Date | string }>(
        db,
        `select g.id, coalesce(r.remaining, g.amount)::text as remaining, g.expires_at
         from billing_credit_ledger g
         left join billing_credit_grant_remaining r on r.grant_id = g.id
         where g.customer_id = $1 and g.currency = $2 and g.kind in ('grant', 'topup') and g.expires_at > $3
           and coalesce(r.remaining, g.amount) > 0
         order by g.expires_at asc, g.seq asc
         limit 1`,
        [customerId, currency, clock.now()],
      );
      const rows = await sqlRows<LedgerRow>(
        db,
        `select ${LEDGER_COLUMNS}
         from billing_credit_ledger where customer_id = $1 and currency = $2 and ${NOT_HOLD}
         order by seq desc
         limit $3`,
        [customerId, currency, Math.max(0, Math.floor(recent))],
      );
      return {
        currency,
        balance: formatMoney(new Decimal(sums?.balance ?? 0), currency),
        held: formatMoney(Decimal.max(new Decimal(sums?.held ?? 0), 0), currency),
        nextExpiry: expiring
          ? {
              grantId: expiring.id,
              amount: formatMoney(new Decimal(expiring.remaining), currency),
              expiresAt: iso(expiring.expires_at) as string,
            }
          : null,
        recent: rows.map(toEntry),
      };
    },
    async currencies(customerId) {
      const rows = await sqlRows<{ currency: string }>(
        db,
        `select b.currency from billing_credit_balances b
         where b.customer_id = $1
         order by (select min(l.seq) from billing_credit_ledger l
                   where l.customer_id = b.customer_id and l.currency = b.currency) asc nulls last, b.currency`,
        [customerId],
      );
      return rows.map((r) => r.currency);
    },
    async grant(input) {
      const amount = new Decimal(input.amount);
      if (!amount.isFinite() || amount.lte(0)) {
        throw problems.badRequest('A credit grant needs a positive amount.');
      }
      const on = input.db ?? db;
      const entry =
        (await insert(on, {
          customerId: input.customerId,
          currency: input.currency,
          kind: input.kind ?? 'grant',
          amount,
          expiresAt: input.expiresAt ?? null,
          note: input.note ?? null,
          idempotencyKey: input.idempotencyKey ?? null,
        })) ??
        toEntry(
          (
            await sqlRows<LedgerRow>(
              on,
              `select ${LEDGER_COLUMNS}
               from billing_credit_ledger where idempotency_key = $1`,
              [input.idempotencyKey],
            )
          )[0] as LedgerRow,
        );
      if (!input.db) await changed(input.customerId);
      return entry;
    },
    async drawdown(on, input) {
      await lockCustomer(on, input.customerId, input.currency);
      const total = Decimal.max(new Decimal(input.amount), 0);
      let applied = new Decimal(0);
      let planCap = new Decimal(0);
      const invoiceKey = isPeriodInvoiceKey(input.invoiceKey) ? input.invoiceKey : null;
      if (invoiceKey !== null && input.period) {
        const claimed = await claimRealtimeUsage(on, { ...input, periodTo: input.period.to });
        const realtime = claimed.reduce((acc, r) => acc.sub(r.amount), new Decimal(0));
        applied = Decimal.min(realtime, total);
        if (realtime.gt(total)) await returnExcess(on, input, claimed, realtime.sub(total));
        planCap = usageShare(input.lines ?? [], total).sub(realtime);
      }
      let wanted = total.sub(applied);
      let drawn = new Decimal(0);
      if (wanted.gt(0)) {
        const planPeriod =
          invoiceKey !== null && input.period && invoiceKey.endsWith(input.period.from.toISOString())
            ? { subscriptionKey: subscriptionKeyOf(invoiceKey, input.period.from), from: input.period.from }
            : null;
        for (const grant of await invoiceGrants(on, input.customerId, input.currency, planPeriod)) {
          if (wanted.lte(0)) break;
          const remaining = new Decimal(grant.remaining);
          const take = Decimal.min(remaining, wanted, grant.included ? planCap : wanted);
          if (take.lte(0)) continue;
          await insert(on, {
            customerId: input.customerId,
            currency: input.currency,
            kind: 'usage',
            amount: take.neg(),
            grantId: grant.id,
            invoiceId: input.invoiceId,
            idempotencyKey: `usage:${input.invoiceId}:${grant.id}`,
            note: 'Applied to invoice',
          });
          if (grant.included) planCap = planCap.sub(take);
          drawn = drawn.add(take);
          wanted = wanted.sub(take);
        }
      }
      // Outstanding reservations are not spendable on invoices.
      const balance = drawn.gt(0) ? await balanceOf(input.customerId, input.currency, on) : new Decimal(0);
      if (balance.lt(0) && drawn.gt(0)) {
        // never draw below zero because of reservations: give back the excess
        const giveBack = Decimal.min(drawn, balance.neg());
        await insert(on, {
          customerId: input.customerId,
          currency: input.currency,
          kind: 'release',
          amount: giveBack,
          invoiceId: input.invoiceId,
          idempotencyKey: `usage-adjust:${input.invoiceId}`,
          note: 'Reserved credit kept for calls in flight',
        });
        drawn = drawn.sub(giveBack);
      }
      return formatMoney(applied.add(drawn), input.currency);
    },
    async refund(input) {
      const [grant] = await sqlRows<LedgerRow>(
        db,
        `select ${LEDGER_COLUMNS}
         from billing_credit_ledger where id = $1 and kind in ('grant', 'topup')`,
        [input.grantId],
      );
      if (!grant) throw problems.notFound(`No credit grant ${input.grantId}.`);
      const remaining = new Decimal(
        (
          await sqlRows<{ r: string }>(
            db,
            'select coalesce((select remaining from billing_credit_grant_remaining where grant_id = $2), $1::numeric)::text as r',
            [grant.amount, grant.id],
          )
        )[0]?.r ?? 0,
      );
      const amount = new Decimal(input.amount);
      if (amount.lte(0) || amount.gt(remaining)) {
        throw problems.conflict(
          `Only ${remaining.toString()} ${grant.currency} of this grant is unused and refundable.`,
        );
      }
      const entry = await insert(db, {
        customerId: grant.customer_id,
        currency: grant.currency,
        kind: 'refund',
        amount: amount.neg(),
        grantId: grant.id,
        note: input.note ?? 'Refund',
      });
      await changed(grant.customer_id);
      return entry as CreditEntry;
    },
    async expireIncluded(subscriptionId) {
      const now = clock.now();
      const rows = await sqlRows<GrantRemainder>(
        db,
        `select g.id, g.customer_id, g.currency,
                coalesce((select r.remaining from billing_credit_grant_remaining r where r.grant_id = g.id), g.amount)::text as remaining
         from billing_credit_ledger g
         where g.kind = 'grant' and g.idempotency_key like $1 and g.expires_at > $2
           and not exists (select 1 from billing_credit_ledger e where e.grant_id = g.id and e.kind = 'expiry')`,
        [`${PLAN_CREDITS}%:sub:${subscriptionId}:%`, now],
      );
      return expireRemainders(rows, 'Subscription ended');
    },
    async expireDue(now = clock.now()) {
      await releaseAbandoned(now);
      const rows = await sqlRows<GrantRemainder>(
        db,
        `select g.id, g.customer_id, g.currency,
                coalesce((select r.remaining from billing_credit_grant_remaining r where r.grant_id = g.id), g.amount)::text as remaining
         from billing_credit_ledger g
         where g.kind in ('grant', 'topup') and g.expires_at is not null and g.expires_at <= $1
           and not exists (select 1 from billing_credit_ledger e where e.grant_id = g.id and e.kind = 'expiry')
           and (g.idempotency_key is null or g.idempotency_key not like '${PLAN_CREDITS}%'
                or g.expires_at <= $1::timestamptz - ${PLAN_CREDITS_INVOICE_WAIT}
                or exists (select 1 from billing_invoices i
                           where i.subscription_id = split_part(substr(g.idempotency_key, strpos(g.idempotency_key, ':sub:') + 5), ':', 1)
                             and i.period_to >= g.expires_at and i.idempotency_key not like '%:first:%'))`,
        [now],
      );
      return expireRemainders(rows, 'Expired');
    },
    async reserve(input) {
      const amount = new Decimal(input.amount);
      const entry = await db.transaction().execute(async (tx) => {
        // One reservation of a customer at a time, on every node: each sees the ones before it.
        await lockCustomer(tx, input.customerId, input.currency);
        const balance = await balanceOf(input.customerId, input.currency, tx);
        if (balance.lte(0)) throw creditsExhausted(input.customerId, input.currency);
        if (balance.lt(amount)) {
          throw creditsExhausted(input.customerId, input.currency, {
            balance: formatMoney(balance, input.currency),
            reserve: amount.toString(),
          });
        }
        return insert(tx, {
          customerId: input.customerId,
          currency: input.currency,
          kind: 'reservation',
          amount: amount.neg(),
          note: 'Reserved for a call in flight',
        });
      });
      await changed(input.customerId);
      return { reservationId: (entry as CreditEntry).id };
    },
    async settle(input) {
      const [reservation] = await sqlRows<LedgerRow>(
        db,
        `select ${LEDGER_COLUMNS}
         from billing_credit_ledger where id = $1 and kind = 'reservation'`,
        [input.reservationId],
      );
      if (!reservation) throw problems.notFound('No such reservation.');
      const settled = await db.transaction().execute(async (tx) => {
        // Under the customer's lock, so concurrent settlements take each grant's remainder in turn.
        await lockCustomer(tx, reservation.customer_id, reservation.currency);
        const released = await insert(tx, {
          customerId: reservation.customer_id,
          currency: reservation.currency,
          kind: 'release',
          amount: new Decimal(reservation.amount).neg(),
          grantId: null,
          idempotencyKey: `release:${reservation.id}`,
          note: 'Reservation settled',
        });
        if (!released) return false; // settled before
        let actual = new Decimal(input.actual);
        for (const grant of await openGrants(tx, reservation.customer_id, reservation.currency)) {
          if (actual.lte(0)) break;
          const take = Decimal.min(new Decimal(grant.remaining), actual);
          if (take.lte(0)) continue;
          await insert(tx, {
            customerId: reservation.customer_id,
            currency: reservation.currency,
            kind: 'usage',
            amount: take.neg(),
            grantId: grant.id,
            idempotencyKey: `settle:${reservation.id}:${grant.id}`,
            note: 'Usage',
          });
          actual = actual.sub(take);
        }
        if (actual.gt(0)) {
          // beyond every grant: the documented bound (actual − reserved) shows as a negative balance
          await insert(tx, {
            customerId: reservation.customer_id,
            currency: reservation.currency,
            kind: 'usage',
            amount: actual.neg(),
            idempotencyKey: `settle:${reservation.id}:overdraw`,
            note: 'Usage beyond the balance (reserve bound)',
          });
        }
        return true;
      });
      if (settled) {
        await changed(reservation.customer_id);
        if (new Decimal(input.actual).gt(0)) options.onSpent?.(reservation.customer_id, reservation.currency);
      }
    },
    async configure(input) {
      await sqlRows(
        db,
        `insert into billing_credit_settings (customer_id, currency, credits_only, auto_recharge_threshold, auto_recharge_amount)
         values ($1, $2, coalesce($3, false), $4, $5)
         on conflict (customer_id, currency) do update set
           credits_only = coalesce($3, billing_credit_settings.credits_only),
           auto_recharge_threshold = case when $6 then $4 else billing_credit_settings.auto_recharge_threshold end,
           auto_recharge_amount = case when $6 then $5 else billing_credit_settings.auto_recharge_amount end`,
        [
          input.customerId,
          input.currency,
          input.creditsOnly ?? null,
          input.autoRecharge?.threshold ?? null,
          input.autoRecharge?.amount ?? null,
          input.autoRecharge !== undefined,
        ],
      );
      await changed(input.customerId);
    },
    async settings(customerId, currency) {
      const [row] = await sqlRows<{
        credits_only: boolean;
        auto_recharge_threshold: string | null;
        auto_recharge_amount: string | null;
      }>(
        db,
        `select credits_only, auto_recharge_threshold::text, auto_recharge_amount::text
         from billing_credit_settings where customer_id = $1 and currency = $2`,
        [customerId, currency],
      );
      return {
        creditsOnly: row?.credits_only ?? false,
        autoRecharge:
          row?.auto_recharge_threshold && row.auto_recharge_amount
            ? {
                threshold: formatMoney(row.auto_recharge_threshold, currency),
                amount: formatMoney(row.auto_recharge_amount, currency),
              }
            : null,
      };
    },
    accessCheck(customerId) {
      const byCurrency = creditsOnly.get(customerId);
      if (!byCurrency) return null;
      for (const [currency, balance] of byCurrency) {
        if (balance.lte(0)) return creditsExhausted(customerId, currency);
      }
      return null;
    },
    creditsOnlyCurrency(customerId) {
      const byCurrency = creditsOnly.get(customerId);
      if (!byCurrency) return null;
      for (const currency of byCurrency.keys()) return currency;
      return null;
    },
    refresh,
  };
  return service;
}
