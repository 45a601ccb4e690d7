import type { OutboundPolicy, PolicyContext } from '../config/index.ts';
import { PROBLEM_CONTENT_TYPE, ProblemError } from '../http/problem.ts';
import type { RateLimitResult, RateLimitSpec } from '../ratelimit/types.ts';
import type { ExchangeState } from './exchange-state.ts';

/**
 * What the gateway answers itself: problems (its own, and the upstream failing), responses of
 * inbound policies, outbound policies' changes to the upstream's headers, and its own headers.
 */

let policySpec: RateLimitSpec | null = null;
let policyText = '';
/** `RateLimit-Policy`; the spec of a caller's view is the same object request after request. */
function rateLimitPolicyHeader(spec: RateLimitSpec): string {
  if (spec !== policySpec) {
    policySpec = spec;
    policyText = `"default";q=${spec.limit};w=${Math.ceil(spec.windowMs / 1000)}`;
  }
  return policyText;
}

function rateLimitHeader(result: RateLimitResult): string {
  return `"default";r=${result.remaining};t=${Math.ceil(result.resetMs / 1000)}`;
}

/** Headers every answer carries: request id, rate limit, quota. */
export function addOwnHeaders(
  ex: ExchangeState,
  headers: Record<string, string | string[] | number | undefined>,
): void {
  headers['x-request-id'] = ex.requestId;
  const spec = ex.rateSpec;
  const rate = ex.rate;
  if (spec !== null && rate !== null) {
    headers['ratelimit-policy'] = rateLimitPolicyHeader(spec);
    headers.ratelimit = rateLimitHeader(rate);
  }
  const quota = ex.quota;
  if (quota !== null) {
    headers['x-quota-limit'] = String(quota.limit);
    headers['x-quota-remaining'] = String(quota.remaining);
    headers['x-quota-reset'] = String(Math.max(0, Math.ceil((quota.resetAt - Date.now()) / 1000)));
  }
}

export async function sendWebResponse(ex: ExchangeState, response: Response): Promise<void> {
  const headers: Record<string, string | string[] | number | undefined> = {};
  response.headers.forEach((value, name) => {
    headers[name] = value;
  });
  const body = Buffer.from(await response.arrayBuffer());
  headers['content-length'] = body.length;
  addOwnHeaders(ex, headers);
  ex.status = response.status;
  ex.done = true;
  ex.res.writeHead(response.status, headers);
  ex.res.end(body);
  ex.refundQuota();
  ex.observe(response.status);
}

/** Outbound policies see the upstream's status and headers and may change the headers. */
export async function runOutboundPolicies(
  ctx: PolicyContext,
  policies: readonly OutboundPolicy[],
  status: number,
  headers: Record<string, string | string[]>,
): Promise<void> {
  const response = {
    status,
    headers,
    setHeader(name: string, value: string) {
      headers[name.toLowerCase()] = value;
    },
  };
  for (const policy of policies) await policy(ctx, response);
}

export const upstreamTimeout = (timeoutMs: number) =>
  new ProblemError({
    status: 504,
    type: 'upstream-timeout',
    title: 'Upstream timeout',
    detail: `The upstream did not answer within ${timeoutMs} ms.`,
  });

export const upstreamUnavailable = () =>
  new ProblemError({
    status: 502,
    type: 'upstream-unavailable',
    title: 'Bad gateway',
    detail: 'The upstream could not be reached or closed the connection.',
  });

/** Seconds a client waits before retrying a call whose usage could not be recorded. */
const USAGE_RETRY_AFTER_S = 5;

/** The usage log did not take the call's events (e.g. no JetStream ack within `scaleOut.usageAckTimeoutMs`). */
export const usageNotRecorded = () =>
  new ProblemError({
    status: 503,
    type: 'usage-not-recorded',
    title: 'Service unavailable',
    detail: `The usage of this call could not be recorded, so it was not delivered or charged. Retry in ${USAGE_RETRY_AFTER_S} s.`,
    headers: { 'retry-after': String(USAGE_RETRY_AFTER_S) },
  });

/** Answers with a problem (always returns undefined so callers can `return` it). */
export function problem(ex: ExchangeState, problem: ProblemError): undefined {
  if (ex.res.headersSent || ex.done) return undefined;
  const body = JSON.stringify(problem.toBody(ex.path || undefined));
  const headers: Record<string, string | string[] | number | undefined> = {
    'content-type': PROBLEM_CONTENT_TYPE,
    'content-length': Buffer.byteLength(body),
    ...problem.headers,
  };
  addOwnHeaders(ex, headers);
  ex.status = problem.status;
  ex.done = true;
  ex.res.writeHead(problem.status, headers);
  ex.res.end(body);
  ex.observe(problem.status);
  return undefined;
}
