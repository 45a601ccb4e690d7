import type { Context, MiddlewareHandler } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import { problems } from './problem.ts';

/**
 * Cookie sessions: an opaque random token in an HttpOnly, SameSite=Lax cookie (Secure over
 * https), resolved by the module that owns sessions. `loadSession` makes the session (or null)
 * and its raw token available to later middleware (the CSRF check binds its token to it);
 * `requireSession` answers 401 without one.
 */
export type SessionVariables<S> = { session: S | null; sessionToken: string | null };

export interface SessionCookieOptions {
  cookie: string;
  /** Whether the response goes to the browser over https (then the cookie is Secure). */
  secure(c: Context): boolean;
}

export function loadSession<S>(
  options: SessionCookieOptions & { resolve(token: string): Promise<S | null> },
): MiddlewareHandler<{ Variables: SessionVariables<S> }> {
  return async (c, next) => {
    const token = getCookie(c, options.cookie);
    const session = token ? await options.resolve(token) : null;
    c.set('session', session);
    c.set('sessionToken', session ? token! : null);
    await next();
  };
}

/** Untyped env on purpose: it sits in apps whose variables extend SessionVariables. */
export function requireSession(): MiddlewareHandler {
  return async (c, next) => {
    if (!c.get('session')) throw problems.unauthorized('Log in to continue.');
    await next();
  };
}

export function setSessionCookie(
  c: Context,
  options: SessionCookieOptions,
  token: string,
  expiresAt: Date,
): void {
  setCookie(c, options.cookie, token, {
    httpOnly: true,
    sameSite: 'Lax',
    secure: options.secure(c),
    path: '/',
    expires: expiresAt,
  });
}

export function clearSessionCookie(c: Context, options: SessionCookieOptions): void {
  deleteCookie(c, options.cookie, { httpOnly: true, sameSite: 'Lax', path: '/' });
}
