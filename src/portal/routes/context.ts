import type { OpenAPIHono } from '@hono/zod-openapi';
import { z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import type { ResolvedConfig } from '../../config/index.ts';
import { type ClientAddressResolver, clientAddressResolver } from '../../http/client-address.ts';
import { type CsrfOptions, type CsrfVariables, sessionCsrfToken, setCsrfCookie } from '../../http/csrf.ts';
import { ProblemSchema } from '../../http/openapi.ts';
import { PROBLEM_CONTENT_TYPE, ProblemError, problems } from '../../http/problem.ts';
import { type SessionCookieOptions, type SessionVariables, setSessionCookie } from '../../http/session.ts';
import type { Clock } from '../../util/clock.ts';
import type { Logger } from '../../util/log.ts';
import type { AccountService, SessionInfo } from '../accounts.ts';
import type { BudgetService } from '../budget.ts';
import type { PortalPorts } from '../dependencies.ts';
import type { PlanView } from '../plans.ts';
import { publicPlans } from '../plans.ts';
import type { PortalMailer } from '../portal-mailer.ts';
import type { PortalRepo } from '../repo.ts';

/**
 * What every portal route file shares: the router's type, the dependencies, and the helpers
 * that several resources use (the signed-in session, owners only, the modules that may be
 * absent, the live plans). One route file per resource mounts onto the same router.
 */
export const SESSION_COOKIE = 'tg_session';
export const CSRF_COOKIE = 'tg_csrf';
export const CSRF_HEADER = 'x-csrf-token';

export type PortalEnv = { Variables: SessionVariables<SessionInfo> & CsrfVariables };
export type PortalApp = OpenAPIHono<PortalEnv>;

export interface PortalHttpDeps {
  config: () => ResolvedConfig;
  clock: Clock;
  log: Logger;
  repo: PortalRepo;
  auth: AccountService;
  budget: BudgetService;
  mailer: PortalMailer;
  ports: () => PortalPorts;
  gatewayUrl: () => string | null;
  /** `tollgate dev`: development conveniences (the dev mailbox) are on. */
  devMode: boolean;
  /** Key that signs signed-out CSRF tokens (the same on every console node). */
  csrfKey: string;
}

/** Any JSON object: the portal's answers, documented by route rather than by schema for now. */
const JsonObject = z.record(z.string(), z.unknown()).openapi('PortalJson');
export const json = (description: string) => ({
  description,
  content: { 'application/json': { schema: JsonObject } },
});

/** The problems a portal route may answer (application/problem+json). */
export const problemDocs = {
  400: { description: 'Invalid input (the `errors` member names each bad field)' },
  401: { description: 'Not logged in' },
  403: { description: 'CSRF token missing or wrong, or only for owners' },
  404: { description: 'Not found (also for ids of other organisations)' },
  409: { description: 'Conflict with the current state' },
  413: { description: 'The body is larger than the limit it names' },
  415: { description: 'The body is not JSON' },
  429: { description: 'Too many attempts (Retry-After)' },
  503: { description: 'A module this route needs is not enabled' },
};
const problemContent = { [PROBLEM_CONTENT_TYPE]: { schema: ProblemSchema } };
export const portalProblems = {
  400: { ...problemDocs[400], content: problemContent },
  401: { ...problemDocs[401], content: problemContent },
  403: { ...problemDocs[403], content: problemContent },
  404: { ...problemDocs[404], content: problemContent },
  409: { ...problemDocs[409], content: problemContent },
  413: { ...problemDocs[413], content: problemContent },
  415: { ...problemDocs[415], content: problemContent },
  429: { ...problemDocs[429], content: problemContent },
  503: { ...problemDocs[503], content: problemContent },
};

export function unavailable(what: string): ProblemError {
  return new ProblemError({
    status: 503,
    type: 'portal-service-unavailable',
    title: `${what} is not available`,
    detail: `${what} is not enabled on this installation yet.`,
  });
}

export function isLoopback(address: string): boolean {
  return (
    address === '::1' ||
    address.startsWith('127.') ||
    address.startsWith('::ffff:127.') ||
    address === 'localhost'
  );
}

export function dt(value: Date | string | null | undefined): string | null {
  return value ? new Date(value).toISOString() : null;
}

export interface PortalRouteContext {
  deps: PortalHttpDeps;
  address: ClientAddressResolver;
  cookieOptions: SessionCookieOptions;
  csrfOptions: CsrfOptions;
  /** A new session: its cookie, and the CSRF token bound to it. */
  setSession(c: Context, token: string, expiresAt: Date): void;
  devMailboxOpen(): boolean;
  /** The signed-in session (routes behind requireSession). */
  sessionOf(c: Context<PortalEnv>): SessionInfo;
  /** Billing actions (plan, payment, spend cap) are for the organisation's owners. */
  ownerOf(c: Context<PortalEnv>): string;
  keysPort(): NonNullable<PortalPorts['keys']>;
  subsPort(): NonNullable<PortalPorts['subscriptions']>;
  billingPort(): NonNullable<PortalPorts['billing']>;
  /** The live catalog when wired (published versions), else the config's plans. */
  plansNow(): Promise<PlanView[]>;
}

export function createRouteContext(deps: PortalHttpDeps): PortalRouteContext {
  const address = clientAddressResolver(() => deps.config().console.trustProxy);
  const cookieOptions: SessionCookieOptions = {
    cookie: SESSION_COOKIE,
    // Secure cookies when the browser is on https: directly, through a trusted proxy, or as the
    // configured public URL says.
    secure: (c) => address.https(c) || (deps.config().console.publicUrl?.startsWith('https:') ?? false),
  };
  const csrfOptions: CsrfOptions = {
    cookie: CSRF_COOKIE,
    header: CSRF_HEADER,
    key: deps.csrfKey,
    secure: cookieOptions.secure,
    // The admin console authenticates with a bearer token, which a browser never sends on its own.
    exempt: (c) => c.req.path.startsWith('/api/portal/admin/') && Boolean(c.req.header('authorization')),
  };
  const sessionOf = (c: Context<PortalEnv>): SessionInfo => {
    const session = c.get('session');
    if (!session) throw problems.unauthorized('Log in to continue.');
    return session;
  };
  const port = <K extends 'keys' | 'subscriptions' | 'billing'>(key: K, what: string) => {
    const found = deps.ports()[key];
    if (!found) throw unavailable(what);
    return found as NonNullable<PortalPorts[K]>;
  };
  return {
    deps,
    address,
    cookieOptions,
    csrfOptions,
    setSession(c, token, expiresAt) {
      setSessionCookie(c, cookieOptions, token, expiresAt);
      setCsrfCookie(c, csrfOptions, sessionCsrfToken(token));
    },
    /**
     * The dev mailbox shows every message (reset links included) to anyone who asks, so it exists
     * only under `tollgate dev`, while no SMTP server is configured and the console listens on
     * loopback. `tollgate start` never has it, SMTP or not.
     */
    devMailboxOpen: () => deps.devMode && deps.mailer.devMailbox && isLoopback(deps.config().console.host),
    sessionOf,
    ownerOf(c) {
      const session = sessionOf(c);
      if (session.user.role !== 'owner') {
        throw problems.forbidden(
          'Only owners of the organisation can change its plan, payments or spend cap.',
        );
      }
      return session.customerId;
    },
    keysPort: () => port('keys', 'API keys'),
    subsPort: () => port('subscriptions', 'Subscriptions'),
    billingPort: () => port('billing', 'Billing'),
    async plansNow() {
      const catalog = deps.ports().catalog;
      return catalog ? catalog.publicPlans() : publicPlans(deps.config());
    },
  };
}
