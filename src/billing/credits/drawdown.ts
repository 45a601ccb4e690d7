import { sql } from 'kysely';
import { Decimal, formatMoney } from '../../util/money.ts';
import type { Db } from '../model.ts';
import { balanceOf, hasExpired, insertEntry, invoiceGrants, lockCustomer } from './ledger.ts';
import { type CreditsService, isPeriodInvoiceKey, subscriptionKeyOf } from './model.ts';
import { creditDb } from './tables.ts';

/**
 * An invoice drawing prepaid credits. Usage booked in real time (`settle`, no invoice yet) before
 * the end of a subscription period is claimed by that period's invoice as credits already
 * applied, and only the rest of the invoice is drawn from grants; if the real-time bookings came
 * to more than the invoice (a tiered price with included units), the difference goes back to the
 * grants it came from. Credits a plan includes pay only its usage charges.
 */
type DrawdownInput = Parameters<CreditsService['drawdown']>[1];

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

/**
 * The period's usage the gateway booked in real time, claimed by its invoice (once: the claim
 * is part of the invoice's transaction). Returns the rows, newest last.
 */
async function claimRealtimeUsage(
  on: Db,
  input: { customerId: string; currency: string; invoiceId: string; periodTo: Date },
) {
  const rows = await creditDb(on)
    .updateTable('billing_credit_ledger')
    .set({ invoice_id: input.invoiceId })
    .where('customer_id', '=', input.customerId)
    .where('currency', '=', input.currency)
    .where('kind', '=', 'usage')
    .where('invoice_id', 'is', null)
    .where('created_at', '<', input.periodTo)
    .returning(['id', sql<string>`cast(amount as text)`.as('amount'), 'grant_id', 'seq'])
    .execute();
  return rows.sort((a, b) => Number(a.seq) - Number(b.seq));
}

/** Real-time bookings above the invoice go back to the grants they came from, newest first. */
async function returnExcess(
  on: Db,
  at: Date,
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
    // A grant that has already expired keeps nothing back: the credit would have expired unused.
    if (row.grant_id !== null && (await hasExpired(on, row.grant_id))) continue;
    await insertEntry(on, at, {
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

/** Draws from grants for the invoice, soonest expiry first; returns what was drawn. */
async function drawGrants(
  on: Db,
  at: Date,
  input: DrawdownInput,
  wanted: Decimal,
  planCap: Decimal,
  invoiceKey: string | null,
): Promise<Decimal> {
  const planPeriod =
    invoiceKey !== null && input.period && invoiceKey.endsWith(input.period.from.toISOString())
      ? { subscriptionKey: subscriptionKeyOf(invoiceKey, input.period.from), from: input.period.from }
      : null;
  let drawn = new Decimal(0);
  let left = wanted;
  let cap = planCap;
  for (const grant of await invoiceGrants(on, input.customerId, input.currency, at, planPeriod)) {
    if (left.lte(0)) break;
    const take = Decimal.min(new Decimal(grant.remaining), left, grant.included ? cap : left);
    if (take.lte(0)) continue;
    await insertEntry(on, at, {
      customerId: input.customerId,
      currency: input.currency,
      kind: 'usage',
      amount: take.neg(),
      grantId: grant.id,
      invoiceId: input.invoiceId,
      idempotencyKey: `usage:${input.invoiceId}:${grant.id}`,
      note: 'Applied to invoice',
    });
    if (grant.included) cap = cap.sub(take);
    drawn = drawn.add(take);
    left = left.sub(take);
  }
  return drawn;
}

/** Draws up to `amount` for an invoice, in the invoice's transaction `on`; returns what was applied. */
export async function drawdown(on: Db, at: Date, input: DrawdownInput): Promise<string> {
  await lockCustomer(on, input.customerId, input.currency);
  const total = Decimal.max(new Decimal(input.amount), 0);
  let applied = new Decimal(0);
  let planCap = new Decimal(0);
  const invoiceKey = isPeriodInvoiceKey(input.invoiceKey) ? input.invoiceKey : null;
  if (invoiceKey !== null && input.period) {
    const claimed = await claimRealtimeUsage(on, { ...input, periodTo: input.period.to });
    const realtime = claimed.reduce((acc, r) => acc.sub(r.amount), new Decimal(0));
    applied = Decimal.min(realtime, total);
    if (realtime.gt(total)) await returnExcess(on, at, input, claimed, realtime.sub(total));
    planCap = usageShare(input.lines ?? [], total).sub(realtime);
  }
  const wanted = total.sub(applied);
  let drawn = wanted.gt(0) ? await drawGrants(on, at, input, wanted, planCap, invoiceKey) : new Decimal(0);
  // Outstanding reservations are not spendable on invoices.
  const balance = drawn.gt(0) ? await balanceOf(on, input.customerId, input.currency) : new Decimal(0);
  if (balance.lt(0) && drawn.gt(0)) {
    // never draw below zero because of reservations: give back the excess
    const giveBack = Decimal.min(drawn, balance.neg());
    await insertEntry(on, at, {
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
}
