import { ProblemError } from '../../http/problem.ts';
import type { Db } from '../model.ts';
import type { LedgerKind } from './tables.ts';

/**
 * Prepaid credits (the service is assembled in service.ts from ledger.ts, drawdown.ts,
 * reservations.ts, expiry.ts and account.ts). Every movement is a ledger row (grant, top-up, usage, expiry, refund,
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
  kind: LedgerKind;
  amount: string;
  grantId: string | null;
  expiresAt: string | null;
  invoiceId: string | null;
  note: string | null;
  createdAt: string;
}

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

export const PLAN_CREDITS = 'plan-credits:';

/** The billing run's invoice key of a subscription period (see `periodInvoice` in service.ts). */
const periodInvoiceKey = (subscriptionId: string, periodFrom: Date) =>
  `sub:${subscriptionId}:${periodFrom.toISOString()}`;

/** `sub:<subscription>:` of a period invoice's key. */
export const subscriptionKeyOf = (invoiceKey: string, periodFrom: Date) =>
  invoiceKey.slice(0, invoiceKey.length - periodFrom.toISOString().length);

export const isPeriodInvoiceKey = (key: string | undefined): key is string =>
  key?.startsWith('sub:') === true && !key.includes(':first:');

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
  /**
   * After a ledger row written in the caller's transaction (`grant` with `db`) has committed:
   * the gateway check here and on the other nodes (change feed) sees the new balance.
   */
  committed(customerId: string): Promise<void>;
}
