import { createHash, createHmac, randomBytes } from 'node:crypto';
import type { Context, MiddlewareHandler } from 'hono';
import { getCookie, setCookie } from 'hono/cookie';
import { PROBLEM_CONTENT_TYPE, ProblemError } from './problem.ts';
import { sameSecret } from './secrets.ts';
import type { SessionVariables } from './session.ts';

/**
 * CSRF tokens the server can verify, never a pair the client picks (OWASP's "signed double
 * submit cookie"). Signed in: the token is derived from the session token (SHA-256 of it with a
 * purpose label), so it is bound to that session and changes with it. Signed out (log in, sign
 * up, reset): a random nonce with an HMAC under a server key. Either way the browser sends the
 * `tg_csrf` cookie's value in the `x-csrf-token` header on every mutating request; an
 * attacker-chosen cookie/header pair does not verify. Safe requests (GET/HEAD/OPTIONS) issue the
 * right token once, only when the browser does not hold it already.
 */
export type CsrfVariables = { csrfToken: string };

export interface CsrfOptions {
  cookie: string;
  header: string;
  /** Key for signed-out tokens; shared by every console node (derived from the admin token). */
  key: string;
  secure(c: Context): boolean;
  /** Requests that authenticate otherwise (a bearer token a browser never sends by itself). */
  exempt?(c: Context): boolean;
}

export function sessionCsrfToken(sessionToken: string): string {
  return createHash('sha256').update(`tollgate-csrf\0${sessionToken}`).digest('base64url');
}

function signature(key: string, nonce: string): string {
  return createHmac('sha256', key).update(`tollgate-csrf-anonymous\0${nonce}`).digest('base64url');
}

export function anonymousCsrfToken(key: string): string {
  const nonce = randomBytes(18).toString('base64url');
  return `${nonce}.${signature(key, nonce)}`;
}

function validAnonymous(key: string, token: string): boolean {
  const dot = token.indexOf('.');
  if (dot <= 0) return false;
  return sameSecret(token.slice(dot + 1), signature(key, token.slice(0, dot)));
}

export function setCsrfCookie(c: Context, options: CsrfOptions, token: string): void {
  setCookie(c, options.cookie, token, {
    httpOnly: false,
    sameSite: 'Lax',
    secure: options.secure(c),
    path: '/',
  });
}

export function csrfMismatch(options: CsrfOptions): ProblemError {
  return new ProblemError({
    status: 403,
    type: 'csrf-token-mismatch',
    title: 'CSRF token missing or wrong',
    detail: `Send the value of the ${options.cookie} cookie in the ${options.header} header (GET /api/portal/config sets it).`,
  });
}

/** Runs after `loadSession`: checks mutating requests, issues the token on safe ones. */
export function csrfGuard<S>(
  options: CsrfOptions,
): MiddlewareHandler<{ Variables: SessionVariables<S> & CsrfVariables }> {
  return async (c, next) => {
    const sessionToken = c.get('sessionToken');
    const held = getCookie(c, options.cookie) ?? '';
    const method = c.req.method;
    if (method === 'GET' || method === 'HEAD' || method === 'OPTIONS') {
      let token = sessionToken ? sessionCsrfToken(sessionToken) : held;
      const holdsRight = sessionToken ? sameSecret(held, token) : validAnonymous(options.key, held);
      if (!holdsRight) {
        if (!sessionToken) token = anonymousCsrfToken(options.key);
        setCsrfCookie(c, options, token);
      }
      c.set('csrfToken', token);
      return next();
    }
    if (options.exempt?.(c)) return next();
    const presented = c.req.header(options.header) ?? '';
    const ok = sessionToken
      ? sameSecret(presented, sessionCsrfToken(sessionToken))
      : sameSecret(presented, held) && validAnonymous(options.key, presented);
    if (!ok) {
      // A stale token (the session ended elsewhere) is replaced, so the page can simply retry;
      // answered here rather than thrown so that the new cookie goes out with the 403.
      if (!sessionToken) setCsrfCookie(c, options, anonymousCsrfToken(options.key));
      const problem = csrfMismatch(options);
      return c.body(JSON.stringify(problem.toBody(c.req.path)), 403, {
        'content-type': PROBLEM_CONTENT_TYPE,
      });
    }
    return next();
  };
}
