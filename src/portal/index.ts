import { createHmac } from 'node:crypto';
import type { Hono } from 'hono';
import type { ResolvedConfig } from '../config/index.ts';
import type { ProblemError } from '../http/problem.ts';
import type { Store } from '../store/index.ts';
import type { Clock } from '../util/clock.ts';
import type { Logger } from '../util/log.ts';
import { createAccountService } from './accounts.ts';
import { mountAdminConsole } from './admin-console.ts';
import { budgetService } from './budget.ts';
import type { PortalPorts } from './dependencies.ts';
import { type LoginAttempts, LoginThrottle } from './login-throttle.ts';
import { portalMailer } from './portal-mailer.ts';
import { portalRepo } from './repo.ts';
import { mountPortal } from './routes/index.ts';
import { mountSpa } from './spa.ts';

export { mountAdminConsole } from './admin-console.ts';
export { forecastOf } from './budget.ts';
export type * from './dependencies.ts';
export { CSRF_COOKIE, CSRF_HEADER, SESSION_COOKIE } from './routes/index.ts';
export { DEFAULT_WEB_DIR } from './spa.ts';

export interface PortalOptions {
  config: () => ResolvedConfig;
  store: Store;
  clock: Clock;
  log: Logger;
  adminToken: string;
  /** Modules adapted to the portal's ports; read on every request, so they can be wired late. */
  ports: PortalPorts;
  gatewayUrl: () => string | null;
  /** Directory of the built SPA (default dist/web); the SPA is served at `/`. */
  webDir?: string;
  /** Default: counted in process; scale-out passes the Redis throttle shared by console nodes. */
  throttle?: LoginAttempts;
  /** `dev` turns on the dev mailbox (when no SMTP server is configured); default `start`. */
  mode?: 'dev' | 'start';
}

export interface Portal {
  /** For the AccessResolver: the problem to answer while the customer's hard spend cap is reached. */
  checkSpendCap(customerId: string): ProblemError | null;
  /** `alerts: false` only refreshes spend caps (gateway nodes); default: alerts too. */
  evaluateBudgets(options?: { alerts?: boolean }): Promise<void>;
  readonly ports: PortalPorts;
}

/** Mounts `/api/portal/*`, the admin console API and the SPA on the console app. */
export function createPortal(app: Hono, options: PortalOptions): Portal {
  const { store, clock, log } = options;
  const repo = portalRepo(store);
  const ports = options.ports;
  const link = (path: string) => {
    const base = options.config().console.publicUrl ?? consoleOrigin.value ?? 'http://127.0.0.1:8081';
    return `${base.replace(/\/$/, '')}${path}`;
  };
  const consoleOrigin: { value: string | null } = { value: null };
  const mailer = portalMailer(options.config(), repo, log, ports.mail);
  const brandName = options.config().portal.branding.name ?? options.config().name;
  const auth = createAccountService({
    repo,
    clock,
    mailer,
    customers: ports.customers,
    link,
    brandName,
    throttle: options.throttle ?? new LoginThrottle(),
    log: log.child({ module: 'portal' }),
  });
  const budget = budgetService({
    repo,
    clock,
    log,
    mailer,
    billing: () => ports.billing,
    subscriptions: () => ports.subscriptions,
    webhooks: () => ports.webhooks,
    emailsOf: async (customerId) =>
      (await repo.members(customerId)).filter((m) => m.role === 'owner').map((m) => m.email),
    link,
  });
  app.use('*', async (c, next) => {
    if (!consoleOrigin.value) consoleOrigin.value = new URL(c.req.url).origin;
    await next();
  });
  mountPortal(app, {
    config: options.config,
    clock,
    log,
    repo,
    auth,
    budget,
    mailer,
    ports: () => ports,
    gatewayUrl: options.gatewayUrl,
    devMode: options.mode === 'dev',
    csrfKey: createHmac('sha256', options.adminToken).update('tollgate portal csrf').digest('base64url'),
  });
  mountAdminConsole(app, {
    adminToken: options.adminToken,
    repo,
    ports: () => ports,
    config: options.config,
  });
  mountSpa(app, options.webDir);

  return {
    checkSpendCap: budget.checkSpendCap,
    evaluateBudgets: (evaluateOptions) => budget.evaluateAll(evaluateOptions),
    ports,
  };
}
