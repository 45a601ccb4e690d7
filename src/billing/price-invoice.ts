import { z } from 'zod';
import { formatPath } from '../config/load.ts';
import { type RateCardConfig, rateCardSchema } from '../config/schema.ts';
import { problems } from '../http/problem.ts';
import { Decimal, formatMoney, roundMoney } from '../util/money.ts';
import { applyDiscounts, type DiscountTerms } from './discounts/apply.ts';
import { type RatedLine, rate } from './rating.ts';
import { rateTransactions, type TakeRateTotals, type Transaction } from './rating-take-rates.ts';

/**
 * The public pricing API (`import { priceInvoice } from 'tollgate'`): what an invoice for a
 * period would say, from rate cards written as in `tollgate.config.ts`, the period's usage and,
 * for take rates, its transactions. The same engine as the billing run (rating.ts, with its
 * discounts and take-rate rules), without a database: for price pages, quotes and tests.
 */
export interface PriceInvoiceInput {
  /** ISO 4217; lines are rounded half-up to its minor unit. */
  currency: string;
  /** The billing period, half-open [from, to). */
  period: { from: Date | string; to: Date | string };
  /**
   * Calendar billing: the whole calendar period a short first `period` belongs to. Fees and
   * commitments are prorated by `period / fullPeriod`, by second.
   */
  fullPeriod?: { from: Date | string; to: Date | string };
  /** Rate cards as in a plan of `tollgate.config.ts` (validated the same way). */
  rateCards: readonly unknown[];
  /** Usage per feature key over the period (decimal strings or numbers). */
  usage?: Readonly<Record<string, Decimal.Value>>;
  /** Transactions per feature key, for take-rate (percentage) prices. */
  transactions?: Readonly<Record<string, readonly Transaction[]>>;
  /** Discounts, applied after commitments: percent or fixed amount, whole invoice or rate cards. */
  discounts?: readonly DiscountTerms[];
}

export interface PricedInvoice {
  currency: string;
  lines: RatedLine[];
  /** Sum of the rounded lines (before tax and prepaid credits). */
  total: string;
}

const date = (v: Date | string, path: string): Date => {
  const d = v instanceof Date ? v : new Date(v);
  if (Number.isNaN(d.getTime()))
    throw problems.validation(`${path} is not a date.`, [
      { path, message: 'must be a Date or an RFC 3339 string' },
    ]);
  return d;
};

function rateCardsOf(input: readonly unknown[]): RateCardConfig[] {
  const parsed = z.array(rateCardSchema).safeParse(input);
  if (parsed.success) return parsed.data;
  const errors = parsed.error.issues.map((i) => ({
    path: formatPath(['rateCards', ...i.path]),
    message: i.message,
  }));
  throw problems.validation(
    `The rate cards are not valid: ${errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`,
    errors,
  );
}

/** Prices one period: the lines and total an invoice would have. Throws a `ProblemError` naming a bad field. */
export function priceInvoice(input: PriceInvoiceInput): PricedInvoice {
  const period = { from: date(input.period.from, 'period.from'), to: date(input.period.to, 'period.to') };
  if (period.to <= period.from)
    throw problems.validation('The period ends before it starts.', [
      { path: 'period.to', message: 'must be after period.from' },
    ]);
  const rateCards = rateCardsOf(input.rateCards);
  const transactions: Record<string, TakeRateTotals> = {};
  for (const card of rateCards) {
    if (card.price?.type !== 'percentage' || !card.feature) continue;
    transactions[card.key] = rateTransactions(card.price, input.transactions?.[card.feature] ?? []);
  }
  const fullPeriod = input.fullPeriod && {
    from: date(input.fullPeriod.from, 'fullPeriod.from'),
    to: date(input.fullPeriod.to, 'fullPeriod.to'),
  };
  const lines = rate({
    period,
    currency: input.currency,
    segments: [
      {
        ...period,
        planKey: 'preview',
        planVersion: 0,
        rateCards,
        usage: input.usage ?? {},
        transactions,
        ...(fullPeriod && { fullPeriod }),
      },
    ],
  });
  const all = input.discounts?.length
    ? [...lines, ...applyDiscounts(lines, input.discounts, input.currency, period)]
    : lines;
  const total = all.reduce((acc, l) => acc.add(l.amount), new Decimal(0));
  return {
    currency: input.currency,
    lines: all,
    total: formatMoney(roundMoney(total, input.currency), input.currency),
  };
}
