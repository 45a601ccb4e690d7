import { PROBLEM_CONTENT_TYPE, type ProblemError } from '../http/problem.ts';
import type { RateLimitResult, RateLimitSpec } from '../ratelimit/types.ts';
import type { Exchange } from './upstream-exchange.ts';

/** What the gateway answers itself: problems, responses of inbound policies, and its own headers. */

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
  ex: Exchange,
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

export async function sendWebResponse(ex: Exchange, response: Response): Promise<void> {
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

/** Answers with a problem (always returns undefined so callers can `return` it). */
export function problem(ex: Exchange, problem: ProblemError): undefined {
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
