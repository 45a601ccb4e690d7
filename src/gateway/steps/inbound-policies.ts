import { ANSWERED, type RequestState, type StepResult } from './types.ts';

/** Step 7: the config's inbound policies, global then the route's; a returned Response is the answer. */
export function runInboundPolicies(request: RequestState): StepResult | Promise<StepResult> {
  const global = request.state.inbound;
  const local = request.route?.inbound ?? [];
  if (global.length === 0 && local.length === 0) return undefined;
  return runPolicies(request, [...global, ...local]);
}

async function runPolicies(
  request: RequestState,
  policies: RequestState['state']['inbound'],
): Promise<StepResult> {
  const ctx = request.context();
  for (const policy of policies) {
    const response = await policy(ctx);
    if (response instanceof Response) {
      await request.respond(response);
      return ANSWERED;
    }
  }
  return undefined;
}
