import { phaseOf } from '../catalog/index.ts';
import type { Subscription, SubscriptionEvent, SubscriptionService } from '../subscriptions/index.ts';
import { phaseIndexAt } from '../subscriptions/index.ts';
import type { Logger } from '../util/log.ts';
import { type CreditEntry, type CreditsService, planCreditsKey } from './credits.ts';
import type { SubscriptionPort } from './model.ts';

/**
 * Credits a plan includes (`credits` on a plan or phase): a ledger `grant` at the start of every
 * billing period, in the plan's currency, expiring at the period end (or `expiresAfter.days`
 * after its start). The grant's idempotency key is the plan, the subscription and the period
 * start, so activation, every roll-over path and any rerun after a crash grant a period's
 * credits once. A change to another plan in mid-period grants the new plan's credits for the
 * rest of the period (once per plan and period); moving to a newer version of the same plan
 * grants nothing more until the next period.
 *
 * Two ways in, both idempotent: subscription events (`created`, `renewed`, `plan_changed`:
 * activation, checkout, lazy roll-overs), and the billing port's roll-overs, which grant before
 * the run invoices anything, so a run that crashed after rolling over grants on its rerun.
 * A subscription canceled now loses what is left of its included credits at once (canceled at
 * the period end, they still pay that period's invoice).
 */
export interface IncludedCredits {
  /** Grants the credits the subscription's plan includes for its current period; null: none. */
  grantCurrent(subscription: Subscription): Promise<CreditEntry | null>;
  /** For `subscriptions.onEvent`. */
  onEvent(event: SubscriptionEvent): Promise<void>;
  /** The billing port with roll-overs and checkout subscribes that also grant included credits. */
  wrapPort(port: SubscriptionPort): SubscriptionPort;
}

const DAY = 86_400_000;
const GRANTING_EVENTS = new Set<SubscriptionEvent['type']>([
  'subscription.created',
  'subscription.renewed',
  'subscription.plan_changed',
]);

export function createIncludedCredits(deps: {
  subscriptions: SubscriptionService;
  /** Late-bound: the credits service is made with the billing module, which takes the wrapped port. */
  credits: () => CreditsService;
  log?: Logger;
}): IncludedCredits {
  const { subscriptions } = deps;

  async function grantCurrent(sub: Subscription): Promise<CreditEntry | null> {
    if (sub.status === 'canceled') return null;
    const version = await subscriptions.planVersionOf(sub);
    const period = sub.currentPeriod;
    const phaseKey = sub.phases[phaseIndexAt(sub.phases, period.from)]?.key ?? '';
    const phase = phaseOf(version.definition, phaseKey);
    const included = phase.credits;
    if (!included || phase.trial) return null;
    const expiresAt =
      included.expiresAfter === 'period'
        ? period.to
        : new Date(period.from.getTime() + included.expiresAfter.days * DAY);
    return deps.credits().grant({
      customerId: sub.customerId,
      currency: version.definition.currency,
      amount: included.amount,
      expiresAt,
      note: `Included in ${version.definition.name} (${period.from.toISOString().slice(0, 10)} to ${period.to.toISOString().slice(0, 10)})`,
      idempotencyKey: planCreditsKey(version.planKey, sub.id, period.from),
    });
  }

  async function grantFor(ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    for (const sub of await subscriptions.getMany(ids)) await grantCurrent(sub);
  }

  return {
    grantCurrent,
    async onEvent(event) {
      const ended = event.type === 'subscription.canceled' && event.subscription.endedAt !== null;
      if (!GRANTING_EVENTS.has(event.type) && !ended) return;
      try {
        if (ended) await deps.credits().expireIncluded(event.subscription.id);
        else await grantCurrent(event.subscription);
      } catch (error) {
        // The billing run's roll-over grants it again (same key); nothing is lost.
        deps.log?.error(
          { err: error, subscriptionId: event.subscription.id },
          'granting included credits failed',
        );
      }
    },
    wrapPort(port) {
      return {
        ...port,
        async rollOver(subscriptionId, periodTo) {
          await port.rollOver(subscriptionId, periodTo);
          await grantFor([subscriptionId]);
        },
        ...(port.rollOverMany
          ? {
              async rollOverMany(subscriptionIds: readonly string[]) {
                await port.rollOverMany?.(subscriptionIds);
                await grantFor(subscriptionIds);
              },
            }
          : {}),
        ...(port.subscribe
          ? {
              async subscribe(
                customerId: string,
                planKey: string,
                inTransaction?: Parameters<NonNullable<SubscriptionPort['subscribe']>>[2],
              ) {
                const sub = await (port.subscribe as NonNullable<SubscriptionPort['subscribe']>)(
                  customerId,
                  planKey,
                  inTransaction,
                );
                await grantFor([sub.id]);
                return sub;
              },
            }
          : {}),
      };
    },
  };
}
