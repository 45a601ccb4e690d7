import type { RateCardConfig } from '../config/index.ts';
import { problems } from '../http/problem.ts';
import { Decimal, formatMoney } from '../util/money.ts';
import type { BillingDeps } from './deps.ts';
import { applyDiscounts } from './discounts/apply.ts';
import type { Discounts } from './discounts/service.ts';
import { totals } from './invoices.ts';
import type { BillingSegment, BillingSubscription, UsagePort } from './model.ts';
import { type RatedLine, type RatingSegment, rate } from './rating.ts';
import type { TakeRateTotals } from './rating-take-rates.ts';
import { billingDb } from './tables.ts';

/** What a period costs without invoicing it: rating a subscription, the upcoming invoice (and `simulate.ts`). */

export interface UpcomingInvoice {
  subscriptionId: string;
  customerId: string;
  currency: string;
  periodFrom: string;
  periodTo: string;
  asOf: string;
  costToDate: { lines: RatedLine[]; total: string };
  forecast: { lines: RatedLine[]; total: string };
}

export type Preview = ReturnType<typeof createPreview>;

/** The features whose summed usage the rate cards price (flat fees and take rates need none), each once. */
function meteredFeatures(rateCards: readonly RateCardConfig[]): string[] {
  return [
    ...new Set(
      rateCards
        .filter((c) => c.feature && c.price && c.price.type !== 'flat' && c.price.type !== 'percentage')
        .map((c) => c.feature as string),
    ),
  ];
}

/** What rating needs of a stretch of time: summed usage per feature, take rates per rate card. */
export async function measure(
  usage: UsagePort,
  customerId: string,
  subscriptionId: string,
  rateCards: readonly RateCardConfig[],
  from: Date,
  to: Date,
): Promise<Pick<RatingSegment, 'usage' | 'transactions'>> {
  if (to <= from) return { usage: {} };
  const features = meteredFeatures(rateCards);
  const summed = features.length > 0 ? await usage.usage(customerId, subscriptionId, features, from, to) : {};
  const transactions: Record<string, TakeRateTotals> = {};
  for (const card of rateCards) {
    if (card.price?.type !== 'percentage' || !card.feature) continue;
    if (!usage.transactions) {
      throw problems.badRequest(
        `Rate card "${card.key}" is a take rate, and this usage source cannot rate per transaction.`,
      );
    }
    transactions[card.key] = await usage.transactions(customerId, card.feature, card.price, from, to);
  }
  return Object.keys(transactions).length > 0 ? { usage: summed, transactions } : { usage: summed };
}

export function createPreview(
  deps: Pick<BillingDeps, 'db' | 'clock' | 'subscriptions' | 'usage' | 'taxRate'>,
  parts: { discounts?: Pick<Discounts, 'termsFor'> } = {},
) {
  const { db, clock, subscriptions, usage, taxRate } = deps;

  /**
   * `lines` (what an invoice of the period bills) with the subscription's discounts added as
   * their own lines. Applied to the lines an invoice actually carries, after lines billed by an
   * earlier invoice of the period are taken out, so nothing is discounted twice.
   */
  async function withDiscounts(
    sub: Pick<BillingSubscription, 'id' | 'customerId' | 'currency' | 'hints'>,
    period: { from: Date; to: Date },
    lines: RatedLine[],
  ): Promise<RatedLine[]> {
    if (!parts.discounts || lines.length === 0 || sub.hints?.hasDiscounts === false) return lines;
    const terms = await parts.discounts.termsFor(sub, period);
    return terms.length > 0 ? [...lines, ...applyDiscounts(lines, terms, sub.currency, period)] : lines;
  }

  async function rateSubscription(
    sub: BillingSubscription,
    period: { from: Date; to: Date },
    usageTo: Date = period.to,
  ): Promise<{ segments: BillingSegment[]; lines: RatedLine[] }> {
    const segments = await subscriptions.segments(sub, period);
    const rated = [];
    for (const segment of segments) {
      const to = segment.to < usageTo ? segment.to : usageTo;
      rated.push({
        ...segment,
        ...(await measure(usage, sub.customerId, sub.id, segment.rateCards, segment.from, to)),
      });
    }
    return { segments, lines: rate({ period, currency: sub.currency, segments: rated }) };
  }

  /** Keys of lines already billed for this subscription period by an earlier invoice (e.g. checkout). */
  async function billedKeys(
    subscriptionId: string,
    periodFrom: Date,
    exceptKey: string,
  ): Promise<Set<string>> {
    const rows = await billingDb(db)
      .selectFrom('billing_invoice_lines as l')
      .innerJoin('billing_invoices as i', 'i.id', 'l.invoice_id')
      .select('l.key')
      .where('i.subscription_id', '=', subscriptionId)
      .where('i.period_from', '=', periodFrom)
      .where('i.status', '<>', 'void')
      .where('i.idempotency_key', '<>', exceptKey)
      .execute();
    return new Set(rows.map((r) => r.key));
  }

  return {
    rateSubscription,
    billedKeys,
    withDiscounts,
    /** Cost to date for the current period, plus a linear forecast to its end. */
    async upcoming(subscriptionId: string, asOf: Date = clock.now()): Promise<UpcomingInvoice> {
      const sub = await subscriptions.get(subscriptionId);
      if (!sub) throw problems.notFound(`No subscription ${subscriptionId}.`);
      const period = sub.currentPeriod;
      const upTo = asOf < period.to ? asOf : period.to;
      const { segments, lines } = await rateSubscription(sub, period, upTo);
      const already = await billedKeys(sub.id, period.from, `sub:${sub.id}:${period.from.toISOString()}`);
      const toDate = await withDiscounts(
        sub,
        period,
        lines.filter((l) => !already.has(l.key)),
      );
      const elapsed = upTo.getTime() - period.from.getTime();
      const whole = period.to.getTime() - period.from.getTime();
      const factor = elapsed > 0 ? new Decimal(whole).div(elapsed) : new Decimal(1);
      // Forecast: usage in the last (current) segment grows linearly to the period end.
      const rated = [];
      for (const segment of segments) {
        // biome-ignore lint/complexity/useMathMinMax: Dates; Math.min would give a number.
        const to = segment.to < upTo ? segment.to : upTo;
        const measured = await measure(usage, sub.customerId, sub.id, segment.rateCards, segment.from, to);
        const isLast = segment === segments[segments.length - 1];
        const scaled: Record<string, string> = {};
        for (const [k, v] of Object.entries(measured.usage))
          scaled[k] = isLast ? new Decimal(v).mul(factor).toDecimalPlaces(0).toString() : String(v);
        // Take rates grow with the volume like usage does.
        const transactions: Record<string, TakeRateTotals> = {};
        for (const [k, t] of Object.entries(measured.transactions ?? {}))
          transactions[k] = isLast
            ? {
                transactions: new Decimal(t.transactions).mul(factor).toDecimalPlaces(0).toString(),
                volume: new Decimal(t.volume).mul(factor).toString(),
                amount: new Decimal(t.amount).mul(factor).toString(),
              }
            : t;
        rated.push({ ...segment, usage: scaled, transactions });
      }
      const forecast = await withDiscounts(
        sub,
        period,
        rate({ period, currency: sub.currency, segments: rated }).filter((l) => !already.has(l.key)),
      );
      const sum = (ls: RatedLine[]) => formatMoney(totals(ls, sub.currency, taxRate()).total, sub.currency);
      return {
        subscriptionId: sub.id,
        customerId: sub.customerId,
        currency: sub.currency,
        periodFrom: period.from.toISOString(),
        periodTo: period.to.toISOString(),
        asOf: upTo.toISOString(),
        costToDate: { lines: toDate, total: sum(toDate) },
        forecast: { lines: forecast, total: sum(forecast) },
      };
    },
  };
}
