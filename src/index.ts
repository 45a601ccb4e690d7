/** Public API of the `tollgate` package: what `tollgate.config.ts` and embedding programs import. */

export type {
  CustomerInfo,
  EntitlementInfo,
  InboundPolicy,
  KeyInfo,
  MeteringHook,
  OutboundPolicy,
  PolicyContext,
  PricingHook,
  RateLimitFunction,
  SubscriptionInfo,
  TollgateConfigInput,
  UsageEventInput,
} from './config/index.ts';
export { defineConfig } from './config/index.ts';
export { ProblemError } from './http/problem.ts';
