import { type PaymentRail, type RatedLine, rate, sumLines } from '../../billing/index.ts';
import type { PlanDefinition, PlanVersion } from '../../catalog/index.ts';
import type { RateCardConfig } from '../../config/index.ts';
import { problems } from '../../http/problem.ts';
import type { Subscription } from '../../subscriptions/index.ts';
import { Decimal, formatMoney } from '../../util/money.ts';
import type { BillingPort } from '../dependencies.ts';
import { type BillingAdapterDeps, portalRail } from './billing-adapter-deps.ts';
import { customerMessage, lineOf } from './invoice-views.ts';
import { changeTiming, subscriptionsPort } from './subscriptions-port.ts';

/** The rate cards a plan runs with after any trial (a plan change skips the trial). */
function paidRateCards(definition: PlanDefinition): RateCardConfig[] {
  const paid = definition.phases.filter((p) => !p.trial);
  return (paid[0] ?? definition.phases[definition.phases.length - 1])?.rateCards ?? [];
}

/** The subscription as the portal shows it right after a checkout (no balances are shown there). */
function checkedOutSubscription(deps: BillingAdapterDeps, customerId: string) {
  const { subscriptions, catalog, clock } = deps;
  return subscriptionsPort({
    subscriptions,
    catalog,
    balances: async () => ({
      customerId,
      subscriptionId: null,
      planKey: null,
      planVersion: null,
      status: null,
      balances: [],
    }),
    clock,
  }).current(customerId);
}

/**
 * Changing plan now, priced as billing will: a credit for the rest of the period on the rate
 * cards in force, a charge for it on the target's paid rate cards.
 */
async function prorationLines(
  deps: BillingAdapterDeps,
  sub: Subscription,
  planKey: string,
  target: PlanVersion,
  currency: string,
): Promise<RatedLine[]> {
  const { subscriptions, clock } = deps;
  const now = clock.now();
  const period = { from: new Date(sub.currentPeriod.from), to: new Date(sub.currentPeriod.to) };
  const effective = await subscriptions.effectiveRateCards(sub, now);
  return rate({
    period,
    currency,
    segments: [
      {
        from: period.from,
        to: now,
        planKey: sub.planKey,
        planVersion: sub.planVersion,
        rateCards: effective.rateCards,
        usage: {},
      },
      {
        from: now,
        to: period.to,
        planKey,
        planVersion: target.version,
        rateCards: paidRateCards(target.definition),
        usage: {},
      },
    ],
  }).filter((l) => l.kind === 'proration_credit' || l.kind === 'proration_charge');
}

/** Checkout and plan changes as the portal offers them: quote, check out, preview a change. */
export function checkoutPort(
  deps: BillingAdapterDeps,
): Pick<BillingPort, 'checkout' | 'quoteCheckout' | 'previewChange'> {
  const { billing, subscriptions, catalog } = deps;
  return {
    async checkout(customerId, input) {
      // Read per checkout, not at start: a config reload may have switched the rail.
      if (portalRail(deps.config) === 'sandbox' && !input.card) {
        throw problems.badRequest('Enter a card: the sandbox rail takes test card numbers.');
      }
      const result = await billing.startCheckout(customerId, input.planKey, {
        card: input.card?.number,
        returnUrl: input.successUrl,
        cancelUrl: input.cancelUrl,
        ...(input.coupon ? { coupon: input.coupon } : {}),
      });
      if (result.url) return { status: 'redirect', url: result.url };
      if (result.invoice && result.invoice.status !== 'paid') {
        await (billing.rail as PaymentRail & { drain?: () => Promise<void> }).drain?.();
        // A declined first charge undoes the checkout (invoice void, subscription canceled).
        const fresh = await billing.get(result.invoice.id);
        if ((fresh?.status === 'void' || fresh?.status === 'issued') && fresh.lastPaymentError) {
          return { status: 'declined', message: customerMessage(fresh.lastPaymentError) };
        }
      }
      const sub = await subscriptions.currentForCustomer(customerId);
      if (!sub) throw problems.internal('Checkout finished without a subscription.');
      const view = await checkedOutSubscription(deps, customerId);
      return { status: 'active', subscription: view!, invoiceId: result.invoice?.id ?? null };
    },
    async quoteCheckout(customerId, planKey, coupon) {
      const quote = await billing.quoteCheckout(planKey, coupon, customerId);
      if (!quote) throw problems.notFound(`No plan "${planKey}".`);
      const discount = quote.lines
        .filter((l) => l.kind === 'discount')
        .reduce((acc, l) => acc.add(l.amount), new Decimal(0));
      return {
        currency: quote.currency,
        lines: quote.lines.map((l) => ({ description: l.description, amount: l.amount })),
        discount: formatMoney(discount, quote.currency),
        tax: quote.tax,
        total: quote.total,
      };
    },
    async previewChange(customerId, subscriptionId, planKey) {
      const sub = await subscriptions.get(subscriptionId);
      if (!sub || sub.customerId !== customerId) throw problems.notFound('No such subscription.');
      const timing = await changeTiming(catalog, sub, planKey);
      const [current, target] = await Promise.all([
        catalog.getPlanVersionById(sub.planVersionId),
        catalog.getLatestPlanVersion(planKey),
      ]);
      if (!current || !target) throw problems.notFound(`No plan "${planKey}".`);
      const currency = current.definition.currency;
      if (timing === 'period_end') return { amount: formatMoney(0, currency), currency, lines: [], timing };
      const lines = await prorationLines(deps, sub, planKey, target, currency);
      return {
        amount: sumLines(lines, currency),
        currency,
        lines: lines.map((l) => lineOf(l)),
        timing,
      };
    },
  };
}
