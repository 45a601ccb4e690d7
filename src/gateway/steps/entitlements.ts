import { problems } from '../../http/problem.ts';
import type { AccessView } from '../../subscriptions/access.ts';
import { isPromise } from '../compiled-config.ts';
import type { RequestState, StepResult } from './types.ts';

/**
 * Step 3: the key's access view (plan, entitlements, limits): a blocked customer is refused, and
 * a route that names a feature needs a plan that includes it. Without a subscription there is no
 * plan: such keys may call only routes without a feature. With the fallback resolver (no
 * subscriptions module wired) routes are gated by rate limit only.
 */
export function checkEntitlements(request: RequestState): StepResult | Promise<StepResult> {
  const key = request.key;
  if (key === null) return undefined; // a public route
  const view = request.gw.access.resolve(key.customerId, key.subscriptionId);
  if (isPromise(view)) return view.then((v) => admit(request, v));
  return admit(request, view);
}

function admit(request: RequestState, view: AccessView): StepResult {
  request.view = view;
  if (view.blocked !== null) return view.blocked;
  const feature = request.route?.feature;
  if (feature === undefined || !request.gw.gatesFeatures) return undefined;
  const entitlement = view.entitlements[feature];
  if (entitlement?.hasAccess) return undefined;
  return problems.forbidden(
    view.subscription === null
      ? `The feature "${feature}" needs a subscription; the key's customer has none.`
      : `Your plan does not include the feature "${feature}".`,
    { feature, upgradeUrl: view.upgradeUrl },
  );
}
