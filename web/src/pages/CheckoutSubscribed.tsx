import { Decimal } from 'decimal.js';
import type { Plan, Subscription } from '../api.ts';
import { date } from '../format.ts';
import { Link } from '../router.tsx';
import { Notice } from '../ui.tsx';

/**
 * Checkout for a customer who already has a live subscription. A customer has one subscription
 * at a time (checkout answers 409 to a second), so instead of a pay form that would refuse the
 * card after it was typed, the page says which plan they are on and leads to the Subscription
 * page's Change plan, with the change to the chosen plan already open there.
 */
export function CheckoutSubscribed({
  current,
  currentPlan,
  plan,
}: {
  current: Subscription;
  currentPlan: Plan | undefined;
  plan: Plan;
}) {
  const same = current.plan.key === plan.key;
  const upgrade = new Decimal(plan.basePrice).gt(currentPlan?.basePrice ?? 0);
  const ending = current.cancelAtPeriodEnd;
  return (
    <div className="card narrow" data-testid="checkout-subscribed">
      <h1>
        {same ? `You are already on ${plan.name}` : `${upgrade ? 'Upgrade' : 'Change'} to ${plan.name}`}
      </h1>
      <Notice tone="info" title={`You are on the ${current.plan.name} plan`}>
        {same
          ? 'There is nothing to pay: your subscription to this plan is already in place.'
          : ending
            ? `Your subscription ends on ${date(current.currentPeriod.to)}. Resume it on the Subscription page to change plans.`
            : upgrade
              ? `You already have a subscription, so this is a plan change, not a new purchase. The upgrade applies now; the prorated difference for the rest of this period is added to your next invoice.`
              : `You already have a subscription, so this is a plan change, not a new purchase. The move to ${plan.name} takes effect at the end of this period, on ${date(current.currentPeriod.to)}; nothing is charged.`}
      </Notice>
      <div className="row" style={{ marginTop: '1rem' }}>
        {same || ending ? (
          <Link className="btn btn-primary" to="/subscription">
            Manage subscription
          </Link>
        ) : (
          <Link className="btn btn-primary" to={`/subscription?plan=${encodeURIComponent(plan.key)}`}>
            Change plan to {plan.name}
          </Link>
        )}
        <Link className="btn" to="/pricing">
          Compare plans
        </Link>
      </div>
    </div>
  );
}
