import type { BillingPort } from '../dependencies.ts';
import { type BillingAdapterDeps, portalRail } from './billing-adapter-deps.ts';
import { checkoutPort } from './checkout-port.ts';
import { creditsPort } from './credits-port.ts';
import { invoicesPort } from './invoices-port.ts';

/**
 * The billing module as the portal's pages use it, each part in its own file: credits, checkout
 * and plan changes, invoices. Every method is scoped by the customer id it is given: an id of
 * another organisation behaves as an unknown id.
 */
export function billingPort(deps: BillingAdapterDeps): BillingPort {
  return {
    // Getters: a config reload that switches `billing.rail` reaches the portal's pages at once.
    get rail() {
      return portalRail(deps.config);
    },
    get railName() {
      return deps.billing.rail.name;
    },
    ...creditsPort(deps),
    ...checkoutPort(deps),
    ...invoicesPort(deps),
  };
}
