import type { BillingService } from '../../billing/index.ts';
import type { CatalogService } from '../../catalog/index.ts';
import type { ResolvedConfig } from '../../config/index.ts';
import type { CustomerService, SubscriptionService } from '../../subscriptions/index.ts';
import type { Clock } from '../../util/clock.ts';
import type { BillingPort } from '../dependencies.ts';

/** What the billing adapters (credits, checkout, invoices) are built from. */
export interface BillingAdapterDeps {
  billing: BillingService;
  subscriptions: SubscriptionService;
  customers: CustomerService;
  catalog: CatalogService;
  clock: Clock;
  config: () => ResolvedConfig;
}

/** The rail as the portal's pages know it: hosted-page rails all check out by redirect. */
export function portalRail(config: () => ResolvedConfig): BillingPort['rail'] {
  const railConfig = config().billing.rail;
  return typeof railConfig === 'string'
    ? railConfig
    : // Paddle checks out on a hosted page too: the portal redirects, as for Stripe.
      railConfig.type === 'stripe' || railConfig.type === 'paddle' || railConfig.type === 'recurly'
      ? 'stripe'
      : railConfig.type;
}
