import { problems } from '../http/problem.ts';
import type { SubscriptionTables } from '../subscriptions/repo.ts';
import { formatMoney } from '../util/money.ts';
import type { BillingDeps } from './deps.ts';
import { applyDiscounts, couponTerms, type DiscountTerms } from './discounts/apply.ts';
import type { Discounts } from './discounts/service.ts';
import { totals } from './invoices.ts';
import { measure, type Preview } from './preview.ts';
import { type RatedLine, rate } from './rating.ts';

export interface SimulationRow {
  customerId: string;
  customerName: string;
  subscriptionId: string;
  periodFrom: string;
  periodTo: string;
  currency: string;
  /** Subtotal (before tax, after discounts) under the plan versions in force at the time. */
  before: string;
  /** Subtotal under the plan as in the current config, with the same discounts (and `--coupon`). */
  after: string;
  /** Each discount as its own line, as the invoice shows it: before, and after. */
  discountsBefore: { description: string; amount: string }[];
  discountsAfter: { description: string; amount: string }[];
}

const discountLines = (lines: RatedLine[]) =>
  lines.filter((l) => l.kind === 'discount').map((l) => ({ description: l.description, amount: l.amount }));

/**
 * `tollgate simulate`: re-rates the real usage of every billing period that started in
 * [monthFrom, monthTo) for subscriptions on `planKey`, under the plan as it is in the current
 * config (not yet published), and returns revenue before/after per customer. Discounts come in
 * as the invoice gets them (the customer's discounts in force for the period, by the same
 * `applyDiscounts`), and `coupon` adds a coupon to every customer's "after" (a what-if: its
 * redemption limits and expiry are not applied). Changes nothing.
 */
export function createSimulation(
  deps: Pick<BillingDeps, 'db' | 'config' | 'subscriptions' | 'usage' | 'taxRate'>,
  parts: { preview: Pick<Preview, 'rateSubscription'>; discounts: Pick<Discounts, 'termsFor' | 'getCoupon'> },
) {
  const { db, config, subscriptions, usage, taxRate } = deps;
  return async function simulate(
    planKey: string,
    monthFrom: Date,
    monthTo: Date,
    options: { coupon?: string } = {},
  ): Promise<SimulationRow[]> {
    const plan = config.plans.find((p) => p.key === planKey);
    if (!plan)
      throw problems.badRequest(
        `No plan "${planKey}" in the current config (plans: ${config.plans.map((p) => p.key).join(', ')}).`,
      );
    const coupon = options.coupon ? await parts.discounts.getCoupon(options.coupon) : null;
    if (coupon?.currency && coupon.currency !== plan.currency)
      throw problems.badRequest(
        `Coupon "${coupon.code}" is in ${coupon.currency}; plan "${planKey}" bills in ${plan.currency}.`,
      );
    const periods = await db
      .withTables<SubscriptionTables>()
      .selectFrom('subscription_periods as p')
      .innerJoin('subscriptions as s', 's.id', 'p.subscription_id')
      .select(['p.subscription_id', 'p.period_start', 'p.period_end'])
      .where('s.plan_key', '=', planKey)
      .where('p.period_start', '>=', monthFrom)
      .where('p.period_start', '<', monthTo)
      .orderBy('p.subscription_id')
      .orderBy('p.period_start')
      .execute();
    const phases = plan.phases ?? [{ key: 'default', trial: false, rateCards: plan.rateCards ?? [] }];
    const rows: SimulationRow[] = [];
    for (const p of periods) {
      const sub = await subscriptions.get(p.subscription_id);
      if (!sub) continue;
      const period = { from: new Date(p.period_start), to: new Date(p.period_end) };
      const before = await parts.preview.rateSubscription({ ...sub, currentPeriod: period }, period);
      const after = [];
      for (const segment of before.segments) {
        const phase = phases.find((ph) => ph.key === segment.phaseKey) ?? phases[phases.length - 1];
        const rateCards = phase?.rateCards ?? [];
        after.push({
          ...segment,
          planKey,
          planVersion: 0,
          trial: phase?.trial ?? false,
          rateCards,
          ...(await measure(usage, sub.customerId, sub.id, rateCards, segment.from, segment.to)),
        });
      }
      const terms = await parts.discounts.termsFor(sub, period, { wholePeriod: true });
      const termsAfter: DiscountTerms[] = coupon ? [...terms, couponTerms(coupon)] : terms;
      const discounted = (lines: RatedLine[], list: DiscountTerms[], currency: string) =>
        list.length > 0 ? [...lines, ...applyDiscounts(lines, list, currency, period)] : lines;
      const beforeLines = discounted(before.lines, terms, sub.currency);
      const afterLines = discounted(
        rate({ period, currency: plan.currency, segments: after }),
        termsAfter,
        plan.currency,
      );
      const customer = await subscriptions.customer(sub.customerId);
      rows.push({
        customerId: sub.customerId,
        customerName: customer?.name ?? sub.customerId,
        subscriptionId: sub.id,
        periodFrom: period.from.toISOString(),
        periodTo: period.to.toISOString(),
        currency: plan.currency,
        before: formatMoney(totals(beforeLines, sub.currency, taxRate()).subtotal, sub.currency),
        after: formatMoney(totals(afterLines, plan.currency, taxRate()).subtotal, plan.currency),
        discountsBefore: discountLines(beforeLines),
        discountsAfter: discountLines(afterLines),
      });
    }
    return rows;
  };
}
