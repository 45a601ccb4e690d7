import { ProblemError, problems } from '../../http/problem.ts';
import { bodyTooLarge } from '../request-body.ts';
import { normalizeRequestPath } from '../request-path.ts';
import type { RequestState, StepResult } from './types.ts';

/**
 * Step 1: the route. The path is normalised once (`request-path.ts`) and that path is matched
 * and later forwarded; a body announced over `gateway.limits.bodyBytes` is refused up front.
 */
export function routeRequest(request: RequestState): StepResult {
  const req = request.req;
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  const normalized = normalizeRequestPath(q < 0 ? url : url.slice(0, q));
  if (!normalized.ok) {
    return problems.badRequest(`The request path has ${normalized.reason}; send a normalised path.`, {
      reason: normalized.reason,
    });
  }
  request.path = normalized.path;
  request.search = q < 0 ? '' : url.slice(q + 1);
  const length = req.headers['content-length'];
  if (length !== undefined && Number(length) > request.state.bodyBytes) {
    return bodyTooLarge(request.state.bodyBytes);
  }
  const method = req.method ?? 'GET';
  const match = request.state.router.match(method, request.path);
  if (match === null) return problems.notFound(`no route for ${method} ${request.path}`);
  if ('allowed' in match) {
    return new ProblemError({
      status: 405,
      type: 'method-not-allowed',
      title: 'Method not allowed',
      detail: `${method} is not allowed on ${request.path}; allowed: ${match.allowed.join(', ')}`,
      headers: { allow: match.allowed.join(', ') },
    });
  }
  request.route = match.route;
  request.params = match.params;
  return undefined;
}
