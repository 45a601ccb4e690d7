import { ProblemError } from '../../http/problem.ts';
import type { GatewayCredits } from '../credits.ts';
import { readGatedBody } from '../request-body.ts';
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

/** An AI route: one whose calls reserve tokens (`models` or `reserveOutputTokens` in the config). */
function reservesTokens(request: RequestState): boolean {
  const route = request.route;
  if (route === null) return false;
  if (route.models !== null) return true;
  return request.state.config.routes.some(
    (r) => r.reserveOutputTokens !== undefined && r.method === route.method && r.path === route.path,
  );
}

/** The request has a body: a non-zero Content-Length, or a chunked one. */
function hasBody(request: RequestState): boolean {
  const headers = request.req.headers;
  const length = headers['content-length'];
  return length !== undefined ? length !== '0' : headers['transfer-encoding'] !== undefined;
}

async function reserve(
  request: RequestState,
  credits: GatewayCredits,
  customerId: string,
): Promise<StepResult> {
  const view = request.view;
  const route = request.route;
  if (view === null || route === null) return undefined;
  // Input tokens are sized by the body's decoded bytes. The Content-Length of a gzip body (or a
  // chunked body, which has none) once sized them, so a body decoding to far more than the balance
  // covers was let through. Model-gated routes read the body already; other AI routes read it here,
  // within gateway.limits.bodyBytes each way (a decompression bomb stops at the limit: 413).
  if (request.decodedBody === null && hasBody(request) && reservesTokens(request)) {
    const body = await readGatedBody(request.req, request.state.bodyBytes);
    if (body instanceof ProblemError) return body;
    request.body = body.raw;
    request.decodedBody = body.decoded;
  }
  const length = Number(request.req.headers['content-length'] ?? 0);
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
