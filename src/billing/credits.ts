/**
 * Prepaid credits: the public face of `src/billing/credits/` (model.ts has the rules and the
 * service's interface; service.ts assembles it from the ledger's parts).
 */
export {
  type CreditAccount,
  type CreditEntry,
  type CreditsService,
  creditsExhausted,
  planCreditsKey,
} from './credits/model.ts';
export { createCreditsService } from './credits/service.ts';
