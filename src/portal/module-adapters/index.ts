/**
 * Adapters from the modules' services to the portal's ports (`../dependencies.ts`), one file per
 * port. Each is scoped by the customer id it is given: an id of another organisation behaves as
 * an unknown id.
 */
export { billingPort } from './billing-port.ts';
export { catalogPort } from './catalog-port.ts';
export { customersPort } from './customers-port.ts';
export { keysPort } from './keys-port.ts';
export { subscriptionsPort } from './subscriptions-port.ts';
