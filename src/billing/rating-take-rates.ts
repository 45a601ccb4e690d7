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
 * subquery with `time` and `value` columns; `$n` placeholders are numbered from `firstParam`.
 * Returns the SQL and its parameters (rate, fee, min, max, free count, free amount).
 */
export function takeRateSql(
  rows: string,
  price: PercentagePrice,
  firstParam: number,
  /** Per subject (rows then need a `subject` column): one pass over the period for every customer. */
  bySubject = false,
): { sql: string; params: (string | number | null)[] } {
  const subject = bySubject ? 'subject, ' : '';
  const [rate, fee, min, max, count, amount] = Array.from({ length: 6 }, (_, i) => `$${firstParam + i}`);
  const sql = `
    with v as (
      select ${subject}value, row_number() over w as n, sum(value) over w as run
      from ${rows}
      window w as (${bySubject ? 'partition by subject ' : ''}order by time, value rows between unbounded preceding and current row)
    ), f as (
      select ${subject}value, run,
        (${count}::int is not null or ${amount}::numeric is not null)
          and (${count}::int is null or n <= ${count}::int) as within_allowance
      from v
    ), c as (
      select ${subject}value,
        case
          when within_allowance and (${amount}::numeric is null or run <= ${amount}::numeric) then null
          else (case when within_allowance and ${amount}::numeric is not null and run - value < ${amount}::numeric
                     then run - ${amount}::numeric else value end) * ${rate}::numeric * 0.01
               + coalesce(${fee}::numeric, 0)
        end as raw
      from f
    ), d as (
      select ${subject}value,
        case
          when raw is null then 0
          when ${min}::numeric is not null and raw < ${min}::numeric then ${min}::numeric
          when ${max}::numeric is not null and raw > ${max}::numeric then ${max}::numeric
          else raw
        end as charge
      from c
    )
    select ${subject}count(*)::text as transactions, coalesce(sum(value), 0)::text as volume,
           coalesce(sum(charge), 0)::text as amount
    from d${bySubject ? ' group by subject' : ''}`;
  return {
    sql,
    params: [
      price.rate,
      price.fixedFee ?? null,
      price.minimumPerTransaction ?? null,
      price.maximumPerTransaction ?? null,
      price.freeTransactions ?? null,
      price.freeAmount ?? null,
    ],
  };
}
