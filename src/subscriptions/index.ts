/**
 * What other modules may import from subscriptions: customers, subscriptions, contracts and the
 * gateway's access view. Billing rates with `effectiveRateCards`/`applyOverrides` and the
 * segment history; the portal reads customers and subscriptions through these services.
 */
export type { AccessResolver, AccessView, QuotaView } from './access.ts';
export {
  type BalanceDeps,
  type CustomerBalances,
  createBalanceReader,
  type EntitlementBalance,
  type EntitlementBalanceReader,
} from './balances.ts';
export { applyOverrides, applyPricingHook, type EffectivePlan, validateOverrides } from './contracts.ts';
export { type CustomerService, createCustomerService } from './customers.ts';
export type {
  ContractOverrides,
  Customer,
  CustomerInput,
  CustomerPatch,
  PendingChange,
  RateCardOverride,
  Subscription,
  SubscriptionPeriod,
  SubscriptionSegment,
  SubscriptionStatus,
} from './model.ts';
export { contractOverridesSchema, customerInputSchema, customerPatchSchema } from './model.ts';
export {
  billingPeriodAt,
  calendarAnchor,
  calendarFullPeriod,
  layoutPhases,
  type Period,
  type PhaseEntry,
  periodContaining,
  phaseIndexAt,
  usagePeriodAt,
} from './periods.ts';
export {
  type AccessCheck,
  type AccessResolverDeps,
  type CachingAccessResolver,
  createAccessResolver,
  PORTAL_INVOICES_PATH,
  PORTAL_SUBSCRIPTION_PATH,
} from './resolver.ts';
export {
  type ChangePlanInput,
  type ChangeTiming,
  createSubscriptionService,
  type SubscribeInput,
  type SubscriptionEvent,
  type SubscriptionService,
} from './service.ts';
