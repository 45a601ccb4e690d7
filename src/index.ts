/** Public API of the `tollgate` package: what `tollgate.config.ts` and embedding programs import. */

export type { DiscountTerms } from './billing/discounts/apply.ts';
/**
 * The pricing engine (docs/billing.md, "Pricing API"): `priceInvoice` gives the lines and total
 * an invoice would have for rate cards, a period, usage and transactions, with discounts.
 */
export {
  type PricedInvoice,
  type PriceInvoiceInput,
  priceInvoice,
} from './billing/price-invoice.ts';
export type { LineKind, RatedLine, TierBreakdown } from './billing/rating.ts';
export type { TakeRateTotals, Transaction } from './billing/rating-take-rates.ts';
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
