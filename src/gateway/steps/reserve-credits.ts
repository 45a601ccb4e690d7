import type { GatewayCredits } from '../credits.ts';
import type { RequestState, StepResult } from './types.ts';

/**
 * Step 8: for a credits-only customer, credits are reserved for the call before the upstream
 * (402 when they do not cover it, raised by `credits.reserve`); everyone else pays one Map lookup.
 */
export function reserveCredits(request: RequestState): StepResult | Promise<StepResult> {
  const credits = request.gw.credits;
  const key = request.key;
  if (credits === null || key === null || !credits.isCreditsOnly(key.customerId)) return undefined;
  return reserve(request, credits, key.customerId);
}

async function reserve(
  request: RequestState,
  credits: GatewayCredits,
  customerId: string,
): Promise<StepResult> {
  const length = Number(request.req.headers['content-length'] ?? 0);
  const view = request.view;
  const route = request.route;
  if (view === null || route === null) return undefined;
  request.creditHold = await credits.reserve({
    customerId,
    view,
    route,
    method: request.req.method ?? 'GET',
    body: request.decodedBody,
    contentLength: Number.isFinite(length) ? length : 0,
    model: request.model,
    config: request.state.config,
    featureMeters: request.state.featureMeters,
  });
  return undefined;
}
