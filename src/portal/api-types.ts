/**
 * The shapes of the portal API's responses, as the SPA (web/src/api.ts) reads them: type-only, so
 * nothing of the server reaches the bundle, and a change to a response shape fails the typecheck
 * of the pages that read it. Each type lives with the code that builds it; this file only gathers
 * them (and so imports from those files, never the other way round).
 */
export type { PortalUser } from './accounts.ts';
export type { CostSummary } from './budget.ts';
export type {
  CardInput,
  CreditAccountView,
  CreditEntryView,
  CreditsView,
  EntitlementBalance,
  InvoiceDetail,
  InvoiceSummary,
  KeyView,
  MoneyLine,
  SubscriptionView,
  TopUpResult,
} from './dependencies.ts';
export type { PlanFeatureView, PlanView } from './plans.ts';
