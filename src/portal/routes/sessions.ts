import { createRoute, z } from '@hono/zod-openapi';
import { anonymousCsrfToken, setCsrfCookie } from '../../http/csrf.ts';
import { clearSessionCookie } from '../../http/session.ts';
import { json, type PortalApp, type PortalRouteContext, portalProblems } from './context.ts';
import { email, jsonBody, name, password } from './schemas.ts';

/** Signing up (and confirming the address), logging in and out, password reset, and accepting an invitation; each that signs in sets the session cookie and the CSRF token bound to it. */
const tags = ['Sessions'];

export function mountSessionRoutes(api: PortalApp, ctx: PortalRouteContext): void {
  const { address, setSession, cookieOptions, csrfOptions, deps } = ctx;
  const { auth } = ctx.deps;

  api.openapi(
    createRoute({
      method: 'post',
      path: '/signup',
      tags,
      request: {
        body: jsonBody(
          z.strictObject({
            email,
            name,
            password,
            organisation: z.string().trim().min(1).max(120).optional(),
          }),
        ),
      },
      responses: { 202: json('Accepted: a confirmation link is on its way'), ...portalProblems },
    }),
    async (c) => {
      // The same answer whether or not the address has an account (no enumeration); the account
      // and the session come with the mailed link (`/verify`).
      const input = c.req.valid('json');
      await auth.signup({ ...input, organisation: input.organisation ?? input.name });
      return c.json({ sent: true }, 202);
    },
  );

  api.openapi(
    createRoute({
      method: 'post',
      path: '/verify',
      tags,
      request: { body: jsonBody(z.strictObject({ token: z.string().min(10).max(200) })) },
      responses: { 200: json('OK: the account is created and signed in'), ...portalProblems },
    }),
    async (c) => {
      const result = await auth.verifyEmail(c.req.valid('json').token);
      setSession(c, result.session.token, result.session.expiresAt);
      return c.json({ user: result.user }, 200);
    },
  );

  api.openapi(
    createRoute({
      method: 'post',
      path: '/login',
      tags,
      request: { body: jsonBody(z.strictObject({ email, password: z.string().min(1).max(200) })) },
      responses: { 200: json('OK'), ...portalProblems },
    }),
    async (c) => {
      const input = c.req.valid('json');
      const result = await auth.login({ ...input, ip: address.address(c) });
      setSession(c, result.session.token, result.session.expiresAt);
      return c.json({ user: result.user }, 200);
    },
  );

  api.openapi(
    createRoute({
      method: 'post',
      path: '/logout',
      tags,
      responses: { 204: { description: 'Done' }, ...portalProblems },
    }),
    async (c) => {
      const session = c.get('session');
      if (session) await auth.logout(session.tokenHash);
      clearSessionCookie(c, cookieOptions);
      setCsrfCookie(c, csrfOptions, anonymousCsrfToken(deps.csrfKey));
      return c.body(null, 204);
    },
  );

  api.openapi(
    createRoute({
      method: 'post',
      path: '/password/forgot',
      tags,
      request: { body: jsonBody(z.strictObject({ email })) },
      responses: { 202: json('Accepted'), ...portalProblems },
    }),
    async (c) => {
      const input = c.req.valid('json');
      auth.forgotPassword(input.email);
      return c.json({ sent: true }, 202);
    },
  );

  api.openapi(
    createRoute({
      method: 'post',
      path: '/password/reset',
      tags,
      request: { body: jsonBody(z.strictObject({ token: z.string().min(10).max(200), password })) },
      responses: { 200: json('OK'), ...portalProblems },
    }),
    async (c) => {
      const input = c.req.valid('json');
      const result = await auth.resetPassword(input.token, input.password);
      setSession(c, result.session.token, result.session.expiresAt);
      return c.json({ user: result.user }, 200);
    },
  );

  api.openapi(
    createRoute({
      method: 'post',
      path: '/invitations/accept',
      tags,
      request: { body: jsonBody(z.strictObject({ token: z.string().min(10).max(200), name, password })) },
      responses: { 201: json('Created'), ...portalProblems },
    }),
    async (c) => {
      const input = c.req.valid('json');
      const result = await auth.acceptInvitation(input);
      setSession(c, result.session.token, result.session.expiresAt);
      return c.json({ user: result.user }, 201);
    },
  );
}
