import { type RawBuilder, sql } from 'kysely';
import type { PriceConfig } from '../config/schema.ts';
import { Decimal } from '../util/money.ts';

/**
 * Take rates: a share of the money a customer's transactions move, priced per transaction.
 * The reference is Lago's percentage charge model
 * (lago-api app/services/charges/charge_models/percentage_service.rb, and the worked example in
 * getlago.com/docs/guide/plans/charges/charge-models/percentage). Per transaction (one metered
 * event, its value the amount moved), in event time order:
 *
 *   charge = clamp(rate% × value + fixedFee, minimumPerTransaction, maximumPerTransaction)
 *
 * Free allowance per period (each optional):
 * - `freeTransactions: n`: the first n transactions cost nothing.
 * - `freeAmount: x`: the first x of transaction volume costs nothing; the transaction that
 *   crosses x pays the rate on its part above x, plus its fee (clamped like any other).
 * - Both: the allowance ends at whichever runs out first, as in Lago's published example ("the
 *   first 3 events or $500 are free": a 4th transaction pays in full though only $450 was moved).
 * A free transaction is not raised to the per-transaction minimum.
 *
 * Exact: every step is Decimal (or SQL `numeric` in the store's aggregate, which must agree with
 * `rateTransactions`; see `takeRateSql`), and the sum is rounded once, on the invoice line.
 */

export type PercentagePrice = Extract<PriceConfig, { type: 'percentage' }>;

/** A take-rate price applied to the transactions of a period: what the invoice line shows. */
export interface TakeRateTotals {
  /** Number of transactions (metered events). */
  transactions: string;
  /** Sum of their values: the volume the rate applies to. */
  volume: string;
  /** Exact (unrounded) charge. */
  amount: string;
}

export interface Transaction {
  value: Decimal.Value;
  /** Orders transactions for the free allowance; without times, the given order is kept. */
  time?: Date | string;
}

export const NO_TRANSACTIONS: TakeRateTotals = { transactions: '0', volume: '0', amount: '0' };

/** The charge of one transaction once it is past the free allowance. */
function charge(price: PercentagePrice, billable: Decimal): Decimal {
  let amount = billable
    .mul(price.rate)
    .mul('0.01')
    .add(price.fixedFee ?? 0);
  if (price.minimumPerTransaction !== undefined) amount = Decimal.max(amount, price.minimumPerTransaction);
  if (price.maximumPerTransaction !== undefined) amount = Decimal.min(amount, price.maximumPerTransaction);
  return amount;
}

/** Rates transactions in JS: the reference the store's SQL aggregate is tested against. */
export function rateTransactions(
  price: PercentagePrice,
  transactions: readonly Transaction[],
): TakeRateTotals {
  const ordered = transactions.some((t) => t.time !== undefined)
    ? [...transactions].sort((a, b) => {
        const dt = new Date(a.time ?? 0).getTime() - new Date(b.time ?? 0).getTime();
        return dt !== 0 ? dt : new Decimal(a.value).comparedTo(b.value);
      })
    : transactions;
  const freeCount = price.freeTransactions;
  const freeAmount = price.freeAmount === undefined ? null : new Decimal(price.freeAmount);
  const hasFree = freeCount !== undefined || freeAmount !== null;
  let running = new Decimal(0);
  let total = new Decimal(0);
  ordered.forEach((t, i) => {
    const value = new Decimal(t.value);
    const before = running;
    running = running.add(value);
    const withinCount = freeCount === undefined || i + 1 <= freeCount;
    if (hasFree && withinCount && (freeAmount === null || running.lte(freeAmount))) return;
    const straddles = hasFree && withinCount && freeAmount !== null && before.lt(freeAmount);
    total = total.add(charge(price, straddles && freeAmount ? running.sub(freeAmount) : value));
  });
  return { transactions: String(ordered.length), volume: running.toString(), amount: total.toString() };
}

/**
 * The same rule as one SQL aggregate over `(time, value)` rows (PostgreSQL/PGlite `numeric`,
 * exact): the store sums the charges without sending events to the process. `rows` is a
 * subquery with `time` and `value` columns (and `subject`, per subject); the price's numbers are
 * bound as parameters. One row (per subject: one per subject that has transactions).
 */
export function takeRateSql(rows: RawBuilder<unknown>, price: PercentagePrice): RawBuilder<TakeRateTotals>;
export function takeRateSql(
  rows: RawBuilder<unknown>,
  price: PercentagePrice,
  /** Per subject (rows then need a `subject` column): one pass over the period for every customer. */
  bySubject: true,
): RawBuilder<TakeRateTotals & { subject: string }>;
export function takeRateSql(
  rows: RawBuilder<unknown>,
  price: PercentagePrice,
  bySubject = false,
): RawBuilder<TakeRateTotals & { subject?: string }> {
  const subject = sql.raw(bySubject ? 'subject, ' : '');
  const partition = sql.raw(bySubject ? 'partition by subject ' : '');
  const groupBy = sql.raw(bySubject ? ' group by subject' : '');
  const rate = sql`${price.rate}::numeric`;
  const fee = sql`${price.fixedFee ?? null}::numeric`;
  const min = sql`${price.minimumPerTransaction ?? null}::numeric`;
  const max = sql`${price.maximumPerTransaction ?? null}::numeric`;
  const count = sql`${price.freeTransactions ?? null}::int`;
  const amount = sql`${price.freeAmount ?? null}::numeric`;
  return sql<TakeRateTotals & { subject?: string }>`
    with v as (
      select ${subject}value, row_number() over w as n, sum(value) over w as run
      from ${rows}
      window w as (${partition}order by time, value rows between unbounded preceding and current row)
    ), f as (
      select ${subject}value, run,
        (${count} is not null or ${amount} is not null)
          and (${count} is null or n <= ${count}) as within_allowance
      from v
    ), c as (
      select ${subject}value,
        case
          when within_allowance and (${amount} is null or run <= ${amount}) then null
          else (case when within_allowance and ${amount} is not null and run - value < ${amount}
                     then run - ${amount} else value end) * ${rate} * 0.01
               + coalesce(${fee}, 0)
        end as raw
      from f
    ), d as (
      select ${subject}value,
        case
          when raw is null then 0
          when ${min} is not null and raw < ${min} then ${min}
          when ${max} is not null and raw > ${max} then ${max}
          else raw
        end as charge
      from c
    )
    select ${subject}count(*)::text as transactions, coalesce(sum(value), 0)::text as volume,
           coalesce(sum(charge), 0)::text as amount
    from d${groupBy}`;
}
