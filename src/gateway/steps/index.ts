import { authenticate } from './authenticate.ts';
import { checkEntitlements } from './entitlements.ts';
import { runInboundPolicies } from './inbound-policies.ts';
import { gateModel } from './model-gating.ts';
import { limitRate } from './rate-limit.ts';
import { consumeRequestQuota } from './request-quota.ts';
import { reserveCredits } from './reserve-credits.ts';
import { routeRequest } from './route.ts';
import type { Step } from './types.ts';

/**
 * The request steps before the upstream, in order: route → key → access (blocked, feature) →
 * model (model-gated routes) → rate limit → quota → inbound policies → credits. The upstream call,
 * outbound policies and usage events follow in `upstream-exchange.ts`. To add a step, write it in
 * its own file and put it in this list.
 */
export const GATEWAY_STEPS: readonly Step[] = [
  routeRequest,
  authenticate,
  checkEntitlements,
  gateModel,
  limitRate,
  consumeRequestQuota,
  runInboundPolicies,
  reserveCredits,
];

export { runSteps, type StepEnds } from './run.ts';
export { ANSWERED, type GatewayServices, type RequestState, type Step, type StepResult } from './types.ts';
