import type { IncomingHttpHeaders } from 'node:http';
import { problems } from '../../http/problem.ts';
import type { VerifiedKey } from '../../keys/model.ts';
import { isPromise } from '../compiled-config.ts';
import type { RequestState, StepResult } from './types.ts';

/** Step 2: the API key (`Authorization: Bearer` or `x-api-key`); public routes need none. */
export function authenticate(request: RequestState): StepResult | Promise<StepResult> {
  if (request.route?.public) return undefined;
  const presented = apiKeyOf(request.req.headers);
  if (presented === null) {
    return problems.unauthorized(
      'Send an API key as "Authorization: Bearer <key>" or in the "x-api-key" header.',
    );
  }
  request.authHeader = presented.header;
  const verified = request.gw.verifier.verify(presented.raw);
  if (isPromise(verified)) return verified.then((key) => accept(request, key));
  return accept(request, verified);
}

function accept(request: RequestState, key: VerifiedKey | null): StepResult {
  if (key === null) return problems.unauthorized('The API key is invalid, revoked or expired.');
  request.key = key;
  return undefined;
}

function apiKeyOf(headers: IncomingHttpHeaders): { raw: string; header: string } | null {
  const auth = headers.authorization;
  if (auth !== undefined && auth.length > 7 && (auth.startsWith('Bearer ') || auth.startsWith('bearer '))) {
    return { raw: auth.slice(7).trim(), header: 'authorization' };
  }
  const x = headers['x-api-key'];
  if (typeof x === 'string' && x !== '') return { raw: x.trim(), header: 'x-api-key' };
  return null;
}
