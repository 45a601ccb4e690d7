import { type Context, Hono } from 'hono';
import { z } from 'zod';
import type { ResolvedConfig } from '../config/index.ts';
import { clientAddressResolver } from '../http/client-address.ts';
import {
  anonymousCsrfToken,
  type CsrfOptions,
  type CsrfVariables,
  csrfGuard,
  sessionCsrfToken,
  setCsrfCookie,
} from '../http/csrf.ts';
import { PRIVATE_DOCUMENT_HEADERS } from '../http/document-headers.ts';
import { ProblemError, problems } from '../http/problem.ts';
import {
  clearSessionCookie,
  loadSession,
  type SessionCookieOptions,
  type SessionVariables,
  requireSession as sessionRequired,
  setSessionCookie,
} from '../http/session.ts';
import type { Clock } from '../util/clock.ts';
import { Decimal, minorUnits } from '../util/money.ts';
import type { AuthService, SessionInfo } from './auth.ts';
import type { BudgetService } from './budget.ts';
import { newToken } from './crypto.ts';
import type { PortalMailer } from './mail.ts';
import { PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH } from './password-policy.ts';
import { publicPlans } from './plans.ts';
import type { KeyView, PortalPorts } from './ports.ts';
import type { PortalRepo } from './repo.ts';
import { usageRange, usageWindow } from './usage-range.ts';

/**
 * `/api/portal/*`: the portal's JSON API. Sessions live in an HttpOnly SameSite=Lax cookie;
 * every mutating request carries the CSRF token in the `x-csrf-token` header, a token bound to
 * the session (or server-signed before log-in; see src/http/csrf.ts). Every query is scoped by the session's customer, and ids of other
 * organisations answer 404 exactly as unknown ids do.
 */
export const SESSION_COOKIE = 'tg_session';
export const CSRF_COOKIE = 'tg_csrf';
export const CSRF_HEADER = 'x-csrf-token';

type Env = { Variables: SessionVariables<SessionInfo> & CsrfVariables };

export interface PortalHttpDeps {
  config: () => ResolvedConfig;
  clock: Clock;
  repo: PortalRepo;
  auth: AuthService;
  budget: BudgetService;
  mailer: PortalMailer;
  ports: () => PortalPorts;
  gatewayUrl: () => string | null;
  /** `tollgate dev`: development conveniences (the dev mailbox) are on. */
  devMode: boolean;
  /** Key that signs signed-out CSRF tokens (the same on every console node). */
  csrfKey: string;
}

const email = z.email('enter a valid email address').max(254);
/** The rules beyond length (not the e-mail, not common) are checked by the service (password-policy.ts). */
const password = z
  .string()
  .min(PASSWORD_MIN_LENGTH, `use at least ${PASSWORD_MIN_LENGTH} characters`)
  .max(PASSWORD_MAX_LENGTH, `use at most ${PASSWORD_MAX_LENGTH} characters`);
const name = z.string().trim().min(1, 'enter a name').max(120);

async function body<T extends z.ZodType>(c: Context, schema: T): Promise<z.output<T>> {
  let raw: unknown;
  try {
    raw = await c.req.json();
  } catch {
    throw problems.badRequest('The request body must be JSON.');
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const errors = parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message }));
    throw problems.validation(errors.map((e) => `${e.path || 'body'}: ${e.message}`).join('; '), errors);
  }
  return parsed.data;
}

function unavailable(what: string): ProblemError {
  return new ProblemError({
    status: 503,
    type: 'portal-service-unavailable',
    title: `${what} is not available`,
    detail: `${what} is not enabled on this installation yet.`,
  });
}

function isLoopback(address: string): boolean {
  return (
    address === '::1' ||
    address.startsWith('127.') ||
    address.startsWith('::ffff:127.') ||
    address === 'localhost'
  );
}

function dt(value: Date | string | null | undefined): string | null {
  return value ? new Date(value).toISOString() : null;
}

/** The most one top-up buys, in minor units: 10,000.00 USD, 1,000,000 JPY, 1,000.000 KWD. */
const MAX_TOP_UP_MINOR = 1_000_000;

/**
 * What is wrong with an amount of credits (a decimal string in the currency's minor unit, at most
 * what one top-up buys), or null. Zero is refused unless `zero` says it means something (a threshold).
 */
function creditAmountError(
  amount: string,
  currency: string,
  options: { zero?: boolean } = {},
): string | null {
  const digits = minorUnits(currency);
  const max = new Decimal(MAX_TOP_UP_MINOR).div(10 ** digits).toFixed(digits);
  const example = new Decimal(25).toFixed(digits);
  if (!/^\d+(\.\d+)?$/.test(amount)) return `a decimal string such as "${example}"`;
  if ((amount.split('.')[1]?.length ?? 0) > digits) {
    return digits === 0
      ? `${currency} has no minor unit: a whole amount such as "${example}"`
      : `at most ${digits} decimal places for ${currency}`;
  }
  const value = new Decimal(amount);
  if (value.lte(0) && !options.zero) return 'must be more than zero';
  if (value.gt(max)) return `at most ${max} ${currency}${options.zero ? '' : ' per top-up'}`;
  return null;
}

const creditAmount = z.string('a decimal string such as "25.00"').trim();
const currencyCode = z.string().regex(/^[A-Z]{3}$/, 'a currency code such as "USD"');

const cardSchema = z.strictObject({
  number: z.string().trim().min(12).max(23),
  expiry: z.string().trim().min(4).max(7),
  cvc: z.string().trim().min(3).max(4),
  name: z.string().max(120).optional(),
});

export function mountPortal(app: Hono, deps: PortalHttpDeps): void {
  const api = new Hono<Env>();
  const { auth, repo, clock } = deps;

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

  /** A new session: its cookie, and the CSRF token bound to it. */
  function setSession(c: Context, token: string, expiresAt: Date) {
    setSessionCookie(c, cookieOptions, token, expiresAt);
    setCsrfCookie(c, csrfOptions, sessionCsrfToken(token));
  }

  /**
   * The dev mailbox shows every message (reset links included) to anyone who asks, so it exists
   * only under `tollgate dev`, while no SMTP server is configured and the console listens on
   * loopback. `tollgate start` never has it, SMTP or not.
   */
  const devMailboxOpen = () =>
    deps.devMode && deps.mailer.devMailbox && isLoopback(deps.config().console.host);

  const requireSession = sessionRequired();

  /** The signed-in session (routes behind requireSession). */
  function sessionOf(c: Context<Env>): SessionInfo {
    const session = c.get('session');
    if (!session) throw problems.unauthorized('Log in to continue.');
    return session;
  }

  /** Billing actions (plan, payment, spend cap) are for the organisation's owners. */
  function ownerOf(c: Context<Env>): string {
    const session = sessionOf(c);
    if (session.user.role !== 'owner') {
      throw problems.forbidden('Only owners of the organisation can change its plan, payments or spend cap.');
    }
    return session.customerId;
  }

  api.use('*', loadSession<SessionInfo>({ ...cookieOptions, resolve: (token) => auth.session(token) }));
  api.use('*', csrfGuard<SessionInfo>(csrfOptions));

  // ---- public -------------------------------------------------------------------------------
  api.get('/config', (c) => {
    const config = deps.config();
    const ports = deps.ports();
    const csrfToken = c.get('csrfToken');
    return c.json({
      name: config.portal.branding.name ?? config.name,
      apiName: config.name,
      branding: {
        name: config.portal.branding.name ?? config.name,
        logoUrl: config.portal.branding.logoUrl ?? null,
        primaryColor: config.portal.branding.primaryColor,
      },
      gatewayUrl: config.gateway.publicUrl ?? deps.gatewayUrl(),
      rail: ports.billing?.rail ?? null,
      railName: ports.billing?.railName ?? ports.billing?.rail ?? null,
      devMailbox: devMailboxOpen(),
      hasOpenapi: Boolean(config.openapiDocument),
      services: {
        keys: Boolean(ports.keys),
        subscriptions: Boolean(ports.subscriptions),
        usage: Boolean(ports.meter),
        billing: Boolean(ports.billing),
      },
      csrfToken,
    });
  });

  api.get('/openapi', (c) => {
    const doc = deps.config().openapiDocument;
    if (!doc)
      throw problems.notFound('This installation has no OpenAPI document (set `openapi` in the config).');
    return c.json(doc);
  });

  /** The live catalog when wired (published versions), else the config's plans. */
  async function plansNow() {
    const catalog = deps.ports().catalog;
    return catalog ? catalog.publicPlans() : publicPlans(deps.config());
  }

  api.get('/plans', async (c) => c.json({ plans: await plansNow() }));

  api.post('/signup', async (c) => {
    const input = await body(
      c,
      z.strictObject({ email, name, password, organisation: z.string().trim().min(1).max(120).optional() }),
    );
    const result = await auth.signup({ ...input, organisation: input.organisation ?? input.name });
    setSession(c, result.session.token, result.session.expiresAt);
    return c.json({ user: result.user }, 201);
  });

  api.post('/login', async (c) => {
    const input = await body(c, z.strictObject({ email, password: z.string().min(1).max(200) }));
    const result = await auth.login({ ...input, ip: address.address(c) });
    setSession(c, result.session.token, result.session.expiresAt);
    return c.json({ user: result.user });
  });

  api.post('/logout', async (c) => {
    const session = c.get('session');
    if (session) await auth.logout(session.tokenHash);
    clearSessionCookie(c, cookieOptions);
    setCsrfCookie(c, csrfOptions, anonymousCsrfToken(deps.csrfKey));
    return c.body(null, 204);
  });

  api.post('/password/forgot', async (c) => {
    const input = await body(c, z.strictObject({ email }));
    auth.forgotPassword(input.email);
    return c.json({ sent: true }, 202);
  });

  api.post('/password/reset', async (c) => {
    const input = await body(c, z.strictObject({ token: z.string().min(10).max(200), password }));
    const result = await auth.resetPassword(input.token, input.password);
    setSession(c, result.session.token, result.session.expiresAt);
    return c.json({ user: result.user });
  });

  api.post('/invitations/accept', async (c) => {
    const input = await body(c, z.strictObject({ token: z.string().min(10).max(200), name, password }));
    const result = await auth.acceptInvitation(input);
    setSession(c, result.session.token, result.session.expiresAt);
    return c.json({ user: result.user }, 201);
  });

  /** Dev mailbox: only while no SMTP server is configured (mail is printed and kept here). */
  api.get('/dev/mailbox', async (c) => {
    if (!devMailboxOpen())
      throw problems.notFound(
        'The dev mailbox exists only under `tollgate dev`, without SMTP, on a loopback address.',
      );
    const to = c.req.query('to') ?? null;
    return c.json({ messages: await deps.mailer.list(to) });
  });

  // ---- signed in ----------------------------------------------------------------------------
  api.use('/me', requireSession);
  api.get('/me', async (c) => {
    const session = sessionOf(c);
    const customers = deps.ports().customers;
    const org = customers
      ? await customers.get(session.customerId)
      : await repo.organisation(session.customerId);
    return c.json({ user: session.user, organisation: { id: session.customerId, name: org?.name ?? null } });
  });

  for (const path of [
    '/members',
    '/members/*',
    '/invitations',
    '/invitations/:id',
    '/keys',
    '/keys/*',
    '/subscription',
    '/subscription/*',
    '/checkout',
    '/checkout/*',
    '/usage',
    '/usage/*',
    '/invoices',
    '/invoices/*',
    '/credits',
    '/credits/*',
    '/alerts',
    '/alerts/*',
    '/spend-cap',
    '/banners',
    '/banners/*',
  ]) {
    api.use(path, async (c, next) => {
      if (c.req.path === '/api/portal/invitations/accept') return next();
      return requireSession(c, next);
    });
  }

  api.get('/members', async (c) => c.json(await auth.members(sessionOf(c).customerId)));
  api.post('/members/invite', async (c) => {
    const input = await body(
      c,
      z.strictObject({ email, role: z.enum(['owner', 'member']).default('member') }),
    );
    return c.json(await auth.invite(sessionOf(c), input), 201);
  });
  api.delete('/members/:id', async (c) => {
    await auth.removeMember(sessionOf(c), c.req.param('id'));
    return c.body(null, 204);
  });
  api.delete('/invitations/:id', async (c) => {
    await auth.revokeInvitation(sessionOf(c), c.req.param('id'));
    return c.body(null, 204);
  });

  // ---- keys ---------------------------------------------------------------------------------
  const keysPort = () => {
    const keys = deps.ports().keys;
    if (!keys) throw unavailable('API keys');
    return keys;
  };
  async function ownKey(customerId: string, keyId: string): Promise<KeyView> {
    const key = (await keysPort().list(customerId)).find(
      (k) => k.id === keyId && k.customerId === customerId,
    );
    if (!key) throw problems.notFound('No such API key.');
    return key;
  }

  api.get('/keys', async (c) => {
    const customerId = sessionOf(c).customerId;
    const keys = (await keysPort().list(customerId)).filter((k) => k.customerId === customerId);
    return c.json({ keys });
  });
  api.post('/keys', async (c) => {
    const customerId = sessionOf(c).customerId;
    const input = await body(
      c,
      z.strictObject({
        name: z.string().trim().min(1, 'give the key a name').max(80),
        expiresAt: z.iso.datetime({ offset: true }).nullable().optional(),
      }),
    );
    const expiresAt = input.expiresAt ? new Date(input.expiresAt) : null;
    if (expiresAt && expiresAt.getTime() <= clock.now().getTime()) {
      throw problems.validation('expiresAt: must be in the future', [
        { path: 'expiresAt', message: 'must be in the future' },
      ]);
    }
    const subscription = await deps.ports().subscriptions?.current(customerId);
    const created = await keysPort().create(customerId, {
      name: input.name,
      expiresAt,
      subscriptionId: subscription?.id ?? null,
    });
    return c.json(created, 201);
  });
  api.post('/keys/:id/roll', async (c) => {
    const customerId = sessionOf(c).customerId;
    await ownKey(customerId, c.req.param('id'));
    return c.json(await keysPort().roll(customerId, c.req.param('id')), 201);
  });
  api.delete('/keys/:id', async (c) => {
    const customerId = sessionOf(c).customerId;
    await ownKey(customerId, c.req.param('id'));
    await keysPort().revoke(customerId, c.req.param('id'));
    return c.body(null, 204);
  });

  // ---- subscription & checkout --------------------------------------------------------------
  const subsPort = () => {
    const subs = deps.ports().subscriptions;
    if (!subs) throw unavailable('Subscriptions');
    return subs;
  };
  const billingPort = () => {
    const billing = deps.ports().billing;
    if (!billing) throw unavailable('Billing');
    return billing;
  };
  async function planOrThrow(planKey: string) {
    const plan = (await plansNow()).find((p) => p.key === planKey);
    if (!plan) throw problems.notFound(`No public plan "${planKey}".`);
    return plan;
  }
  async function ownSubscription(customerId: string, subscriptionId?: string) {
    const current = await subsPort().current(customerId);
    if (!current || current.customerId !== customerId || (subscriptionId && current.id !== subscriptionId)) {
      throw problems.notFound('No such subscription.');
    }
    return current;
  }
  async function firstKey(customerId: string, subscriptionId: string) {
    const keys = deps.ports().keys;
    if (!keys) return null;
    const existing = (await keys.list(customerId)).filter((k) => k.status !== 'revoked');
    if (existing.length > 0) return null;
    return keys.create(customerId, { name: 'Default key', expiresAt: null, subscriptionId });
  }

  api.get('/subscription', async (c) => {
    const customerId = sessionOf(c).customerId;
    const subs = deps.ports().subscriptions;
    if (!subs) return c.json({ available: false, subscription: null, balances: [] });
    const [subscription, balances] = await Promise.all([subs.current(customerId), subs.balances(customerId)]);
    return c.json({ available: true, subscription, balances });
  });

  api.post('/checkout', async (c) => {
    const customerId = ownerOf(c);
    const input = await body(
      c,
      z.strictObject({
        planKey: z.string().min(1),
        card: cardSchema.optional(),
        coupon: z.string().trim().max(40).optional(),
      }),
    );
    const plan = await planOrThrow(input.planKey);
    const existing = await deps.ports().subscriptions?.current(customerId);
    if (existing && existing.status !== 'canceled') {
      throw problems.conflict('You already have a subscription; change its plan on the Subscription page.', {
        subscriptionId: existing.id,
      });
    }
    const origin = deps.config().console.publicUrl ?? new URL(c.req.url).origin;
    // Free plans need no payment method: subscribe directly.
    if (plan.free) {
      const subscription = await subsPort().subscribe(customerId, plan.key);
      const key = await firstKey(customerId, subscription.id);
      return c.json({ status: 'active', subscription, invoiceId: null, firstKey: key }, 201);
    }
    const result = await billingPort().checkout(customerId, {
      planKey: plan.key,
      card: input.card,
      ...(input.coupon ? { coupon: input.coupon } : {}),
      successUrl: `${origin}/checkout/complete?plan=${encodeURIComponent(plan.key)}`,
      cancelUrl: `${origin}/pricing`,
    });
    if (result.status === 'declined') {
      throw new ProblemError({
        status: 402,
        type: 'card-declined',
        title: 'Card declined',
        detail: result.message,
      });
    }
    if (result.status === 'redirect') return c.json(result);
    await deps.budget.evaluate(customerId).catch(() => undefined);
    const key = await firstKey(customerId, result.subscription.id);
    return c.json({ ...result, firstKey: key }, 201);
  });

  /** The coupon field: what checkout will charge today with this code, before paying. */
  api.post('/checkout/coupon', async (c) => {
    const customerId = ownerOf(c);
    const input = await body(
      c,
      z.strictObject({ planKey: z.string().min(1).max(100), code: z.string().trim().min(1).max(40) }),
    );
    const plan = await planOrThrow(input.planKey);
    const billing = billingPort();
    if (!billing.quoteCheckout) throw unavailable('Coupons');
    return c.json({
      code: input.code.toUpperCase(),
      ...(await billing.quoteCheckout(customerId, plan.key, input.code)),
    });
  });

  /** After a Stripe Checkout redirect: the subscription is active once the webhook arrived. */
  api.post('/checkout/complete', async (c) => {
    const customerId = sessionOf(c).customerId;
    const subscription = await subsPort().current(customerId);
    if (!subscription || subscription.status === 'canceled') return c.json({ status: 'pending' });
    return c.json({ status: 'active', subscription, firstKey: await firstKey(customerId, subscription.id) });
  });

  api.post('/subscription/preview', async (c) => {
    const customerId = sessionOf(c).customerId;
    const input = await body(c, z.strictObject({ planKey: z.string().min(1) }));
    await planOrThrow(input.planKey);
    const current = await ownSubscription(customerId);
    return c.json(await billingPort().previewChange(customerId, current.id, input.planKey));
  });
  api.post('/subscription/change', async (c) => {
    const customerId = ownerOf(c);
    const input = await body(
      c,
      z.strictObject({ planKey: z.string().min(1), subscriptionId: z.string().optional() }),
    );
    await planOrThrow(input.planKey);
    const current = await ownSubscription(customerId, input.subscriptionId);
    const result = await subsPort().changePlan(customerId, current.id, input.planKey);
    return c.json(result);
  });
  api.post('/subscription/cancel', async (c) => {
    const customerId = ownerOf(c);
    const input = await body(c, z.strictObject({ subscriptionId: z.string().optional() }));
    const current = await ownSubscription(customerId, input.subscriptionId);
    return c.json({ subscription: await subsPort().cancel(customerId, current.id) });
  });
  api.post('/subscription/resume', async (c) => {
    const customerId = ownerOf(c);
    const input = await body(c, z.strictObject({ subscriptionId: z.string().optional() }));
    const current = await ownSubscription(customerId, input.subscriptionId);
    return c.json({ subscription: await subsPort().resume(customerId, current.id) });
  });

  // ---- usage & cost -------------------------------------------------------------------------
  api.get('/usage', async (c) => {
    const customerId = sessionOf(c).customerId;
    const meter = deps.ports().meter;
    const config = deps.config();
    const meters = config.meters.map((m) => ({
      slug: m.slug,
      name: m.name ?? m.slug,
      groupBy: Object.keys(m.groupBy),
    }));
    if (!meter) return c.json({ available: false, meters, data: [] });
    const slug = c.req.query('meter') ?? meters[0]?.slug;
    const def = config.meters.find((m) => m.slug === slug);
    if (!def) throw problems.notFound(`No meter "${slug}".`);
    const windowSize = usageWindow(c.req.query('window'));
    const groupBy = (c.req.query('groupBy') ?? '').split(',').filter((g) => g && g in def.groupBy);
    const { from, to } = usageRange(
      { from: c.req.query('from'), to: c.req.query('to') },
      windowSize,
      clock.now(),
    );
    // The subject is always the session's customer: nobody reads another organisation's usage.
    const result = await meter.query({
      meterSlug: def.slug,
      from,
      to,
      windowSize,
      subject: [customerId],
      groupBy,
    });
    return c.json({
      available: true,
      meters,
      meter: def.slug,
      windowSize,
      from: from.toISOString(),
      data: result.data,
    });
  });

  api.get('/usage/summary', async (c) => {
    const customerId = sessionOf(c).customerId;
    const subs = deps.ports().subscriptions;
    const [balances, cost, cap, subscription] = await Promise.all([
      subs ? subs.balances(customerId) : Promise.resolve(null),
      deps.budget.cost(customerId).catch(() => null),
      repo.spendCap(customerId),
      subs ? subs.current(customerId) : Promise.resolve(null),
    ]);
    return c.json({
      balances,
      cost,
      spendCap: cap,
      capReached: deps.budget.checkSpendCap(customerId) !== null,
      subscription,
    });
  });

  // ---- invoices -----------------------------------------------------------------------------
  api.get('/invoices', async (c) => {
    const billing = deps.ports().billing;
    if (!billing) return c.json({ available: false, invoices: [] });
    return c.json({ available: true, invoices: await billing.listInvoices(sessionOf(c).customerId) });
  });
  api.get('/invoices/:id', async (c) => {
    const invoice = await billingPort().getInvoice(sessionOf(c).customerId, c.req.param('id'));
    if (!invoice) throw problems.notFound('No such invoice.');
    return c.json({ invoice });
  });
  api.get('/invoices/:id/html', async (c) => {
    const html = await billingPort().invoiceHtml(sessionOf(c).customerId, c.req.param('id'));
    if (html === null) throw problems.notFound('No such invoice.');
    return c.html(html, 200, PRIVATE_DOCUMENT_HEADERS);
  });
  api.get('/invoices/:id/pdf', async (c) => {
    const file = await billingPort().invoicePdf(sessionOf(c).customerId, c.req.param('id'));
    if (file === null) throw problems.notFound('No such invoice.');
    return c.body(file.pdf as Uint8Array<ArrayBuffer>, 200, {
      ...PRIVATE_DOCUMENT_HEADERS,
      'content-type': 'application/pdf',
      'content-disposition': `attachment; filename="${file.filename}"`,
    });
  });
  api.post('/invoices/:id/pay', async (c) => {
    const customerId = ownerOf(c);
    const input = await body(c, z.strictObject({ card: cardSchema.optional() }));
    const invoice = await billingPort().getInvoice(customerId, c.req.param('id'));
    if (!invoice) throw problems.notFound('No such invoice.');
    if (invoice.status !== 'open') throw problems.conflict(`This invoice is ${invoice.status}, not open.`);
    const result = await billingPort().payInvoice(customerId, invoice.id, input.card);
    if (result.status === 'declined') {
      throw new ProblemError({
        status: 402,
        type: 'card-declined',
        title: 'Card declined',
        detail: result.message,
      });
    }
    return c.json(result);
  });

  // ---- prepaid credits ----------------------------------------------------------------------
  api.get('/credits', async (c) => {
    const billing = deps.ports().billing;
    if (!billing) return c.json({ available: false, credits: null });
    return c.json({ available: true, credits: await billing.credits(sessionOf(c).customerId) });
  });

  /** The currency asked for (else the default), if the account is billed or holds credits in it. */
  async function creditCurrency(customerId: string, asked: string | undefined): Promise<string> {
    const credits = await billingPort().credits(customerId);
    const currency = asked ?? credits.defaultCurrency;
    if (!credits.accounts.some((a) => a.currency === currency)) {
      throw problems.validation(`currency: this account is billed in ${credits.defaultCurrency}`, [
        { path: 'currency', message: `this account is billed in ${credits.defaultCurrency}` },
      ]);
    }
    return currency;
  }

  api.post('/credits/topups', async (c) => {
    const customerId = ownerOf(c);
    const input = await body(c, z.strictObject({ amount: creditAmount, currency: currencyCode.optional() }));
    const currency = await creditCurrency(customerId, input.currency);
    const invalid = creditAmountError(input.amount, currency);
    if (invalid) throw problems.validation(`amount: ${invalid}`, [{ path: 'amount', message: invalid }]);
    const result = await billingPort().topUp(customerId, { amount: input.amount, currency });
    if (result.status === 'declined') {
      throw new ProblemError({
        status: 402,
        type: 'card-declined',
        title: 'Card declined',
        detail: result.message,
      });
    }
    return c.json(result, result.status === 'paid' ? 201 : result.status === 'pending' ? 202 : 200);
  });

  api.put('/credits/auto-recharge', async (c) => {
    const customerId = ownerOf(c);
    const input = await body(
      c,
      z.strictObject({
        currency: currencyCode.optional(),
        enabled: z.boolean('true or false'),
        threshold: creditAmount.optional(),
        amount: creditAmount.optional(),
      }),
    );
    const currency = await creditCurrency(customerId, input.currency);
    const errors: { path: string; message: string }[] = [];
    const check = (path: 'threshold' | 'amount', value: string | undefined) => {
      if (value === undefined) {
        if (input.enabled) errors.push({ path, message: 'required to turn auto-recharge on' });
        return;
      }
      const invalid = creditAmountError(value, currency, { zero: path === 'threshold' });
      if (invalid) errors.push({ path, message: invalid });
    };
    check('threshold', input.threshold);
    check('amount', input.amount);
    if (errors.length > 0) {
      throw problems.validation(errors.map((e) => `${e.path}: ${e.message}`).join('; '), errors);
    }
    // Kept in the currency's minor unit, so "10" reads back as "10.00" everywhere it is shown.
    const digits = minorUnits(currency);
    const autoRecharge =
      input.enabled && input.threshold !== undefined && input.amount !== undefined
        ? {
            threshold: new Decimal(input.threshold).toFixed(digits),
            amount: new Decimal(input.amount).toFixed(digits),
          }
        : null;
    await billingPort().setAutoRecharge(customerId, { currency, autoRecharge });
    return c.json({ available: true, credits: await billingPort().credits(customerId) });
  });

  // ---- budget alerts & spend cap ------------------------------------------------------------
  api.get('/alerts', async (c) => {
    const customerId = sessionOf(c).customerId;
    const [alerts, cap] = await Promise.all([repo.alerts(customerId), repo.spendCap(customerId)]);
    return c.json({
      alerts: alerts.map((a) => ({
        id: a.id,
        kind: a.kind,
        threshold: String(a.threshold),
        featureKey: a.feature_key,
        email: a.email,
        webhookUrl: a.webhook_url,
        createdAt: dt(a.created_at),
      })),
      spendCap: cap,
    });
  });
  api.post('/alerts', async (c) => {
    const customerId = sessionOf(c).customerId;
    const input = await body(
      c,
      z.strictObject({
        kind: z.enum(['amount', 'quota_percent']),
        threshold: z.string().regex(/^\d+(\.\d{1,4})?$/, 'a positive decimal such as "50.00" or "80"'),
        featureKey: z.string().nullable().optional(),
        email: z.boolean().default(true),
        webhookUrl: z.url().nullable().optional(),
      }),
    );
    if (input.kind === 'quota_percent' && (Number(input.threshold) <= 0 || Number(input.threshold) > 1000)) {
      throw problems.validation('threshold: a percentage between 1 and 1000', [
        { path: 'threshold', message: 'a percentage between 1 and 1000' },
      ]);
    }
    const webhooks = deps.ports().webhooks;
    if (input.webhookUrl) {
      if (!webhooks) throw problems.badRequest('webhookUrl: webhooks are not available here.');
      // Refused before anything is stored: a customer must not aim the server at internal hosts.
      input.webhookUrl = await webhooks.checkUrl(input.webhookUrl, 'webhookUrl');
    }
    const id = `alr_${newToken().slice(0, 16)}`;
    // The alert's webhook is a customer endpoint in the notify module (signed, retried, logged);
    // its secret is shown once, in this response, and nothing is sent to it before that.
    const endpoint =
      input.webhookUrl && webhooks
        ? await webhooks.createEndpoint({
            url: input.webhookUrl,
            eventTypes: ['budget.alert'],
            customerId,
            source: `budget-alert:${id}`,
            description: `Budget alert ${id}`,
            secretShown: false,
          })
        : null;
    const webhookSecret = endpoint?.secret ?? null;
    await repo.insertAlert({
      id,
      customer_id: customerId,
      kind: input.kind,
      threshold: input.threshold,
      feature_key: input.featureKey ?? null,
      email: input.email,
      webhook_url: input.webhookUrl ?? null,
      webhook_secret: null,
    });
    await deps.budget.evaluate(customerId).catch(() => undefined);
    if (endpoint && webhooks) await webhooks.markSecretShown(endpoint.id);
    return c.json({ id, webhookSecret }, 201);
  });
  api.delete('/alerts/:id', async (c) => {
    const customerId = sessionOf(c).customerId;
    const deleted = await repo.deleteAlert(customerId, c.req.param('id'));
    if (deleted.length === 0) throw problems.notFound('No such alert.');
    await deps.ports().webhooks?.deleteCustomerEndpoints(customerId, `budget-alert:${c.req.param('id')}`);
    return c.body(null, 204);
  });
  // Deliveries to the organisation's own webhook URLs (budget alerts), newest first, with attempts.
  api.get('/webhook-deliveries', async (c) => {
    const webhooks = deps.ports().webhooks;
    if (!webhooks) return c.json({ deliveries: [], nextBefore: null });
    const before = c.req.query('before');
    const deliveries = await webhooks.deliveries({ customerId: sessionOf(c).customerId, before, limit: 50 });
    const withAttempts = await Promise.all(
      deliveries.map(async (d) => ({ ...d, attemptLog: await webhooks.attempts(d.id) })),
    );
    return c.json({
      deliveries: withAttempts,
      nextBefore: deliveries.length === 50 ? (deliveries.at(-1)?.id ?? null) : null,
    });
  });
  api.put('/spend-cap', async (c) => {
    const customerId = ownerOf(c);
    const input = await body(
      c,
      z.strictObject({
        amount: z
          .string()
          .regex(/^\d+(\.\d{1,2})?$/, 'a decimal amount such as "100.00"')
          .nullable(),
        currency: z
          .string()
          .regex(/^[A-Z]{3}$/)
          .default('USD'),
      }),
    );
    if (input.amount === null) await repo.clearSpendCap(customerId);
    else await repo.setSpendCap(customerId, input.amount, input.currency);
    await deps.budget.evaluate(customerId).catch(() => undefined);
    return c.json({ spendCap: await repo.spendCap(customerId) });
  });
  api.get('/banners', async (c) => {
    const customerId = sessionOf(c).customerId;
    const firings = await repo.activeFirings(customerId);
    const cap = deps.budget.checkSpendCap(customerId);
    return c.json({
      banners: [
        ...(cap ? [{ id: 'spend-cap', level: 'error', message: cap.detail ?? cap.title }] : []),
        ...firings.map((f) => ({
          id: f.alert_id,
          level: 'warning',
          message: f.message,
          firedAt: dt(f.fired_at),
        })),
      ],
    });
  });
  api.post('/banners/:id/dismiss', async (c) => {
    await repo.dismissFiring(sessionOf(c).customerId, c.req.param('id'));
    return c.body(null, 204);
  });

  app.route('/api/portal', api);
}
