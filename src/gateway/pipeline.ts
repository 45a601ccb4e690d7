import type { IncomingHttpHeaders } from 'node:http';
import type { InboundPolicy } from '../config/index.ts';
import { ProblemError, problems } from '../http/problem.ts';
import type { VerifiedKey } from '../keys/model.ts';
import type { QuotaResult, QuotaSpec, RateLimitResult, RateLimitSpec } from '../ratelimit/types.ts';
import type { AccessView } from '../subscriptions/access.ts';
import { parseWindow } from '../util/duration.ts';
import { problem, sendWebResponse } from './answers.ts';
import type { GatewayCredits } from './credits.ts';
import type { Exchange } from './exchange.ts';
import { bodyTooLarge, readGatedBody } from './request-body.ts';
import { normalizeRequestPath } from './request-path.ts';
import type { CompiledRoute } from './router.ts';
import { isPromise, MAX_JSON_BODY } from './state.ts';

/**
 * The request pipeline, in order (DESIGN.md): route → auth → access (blocked / feature) → rate
 * limit (GCRA) → quota → inbound policies → credits → proxy. Each step is a plain function of the
 * exchange and calls the next one directly; it returns a promise only when it had to wait.
 */

const windowCache = new Map<string, number>();
function windowMs(window: string): number {
  let ms = windowCache.get(window);
  if (ms === undefined) {
    ms = parseWindow(window) ?? 0;
    if (ms <= 0) throw new Error(`rate limit function returned an invalid window "${window}"`);
    windowCache.set(window, ms);
  }
  return ms;
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

/** Returns a promise only when some step had to wait (cache miss, async policy). */
export function pipeline(ex: Exchange): Promise<void> | undefined {
  const req = ex.req;
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  const normalized = normalizeRequestPath(q < 0 ? url : url.slice(0, q));
  if (!normalized.ok) {
    return problem(
      ex,
      problems.badRequest(`The request path has ${normalized.reason}; send a normalised path.`, {
        reason: normalized.reason,
      }),
    );
  }
  ex.path = normalized.path;
  ex.search = q < 0 ? '' : url.slice(q + 1);
  const length = req.headers['content-length'];
  if (length !== undefined && Number(length) > ex.state.bodyBytes) {
    return problem(ex, bodyTooLarge(ex.state.bodyBytes));
  }
  const method = req.method ?? 'GET';
  const match = ex.state.router.match(method, ex.path);
  if (match === null) {
    return problem(ex, problems.notFound(`no route for ${method} ${ex.path}`));
  }
  if ('allowed' in match) {
    return problem(
      ex,
      new ProblemError({
        status: 405,
        type: 'method-not-allowed',
        title: 'Method not allowed',
        detail: `${method} is not allowed on ${ex.path}; allowed: ${match.allowed.join(', ')}`,
        headers: { allow: match.allowed.join(', ') },
      }),
    );
  }
  ex.route = match.route;
  ex.params = match.params;
  if (match.route.public) return afterAccess(ex);
  const presented = apiKeyOf(req.headers);
  if (presented === null) {
    return problem(
      ex,
      problems.unauthorized('Send an API key as "Authorization: Bearer <key>" or in the "x-api-key" header.'),
    );
  }
  ex.authHeader = presented.header;
  const verified = ex.gw.verifier.verify(presented.raw);
  if (isPromise(verified)) return verified.then((key) => afterAuth(ex, key));
  return afterAuth(ex, verified);
}

function afterAuth(ex: Exchange, key: VerifiedKey | null): Promise<void> | undefined {
  if (key === null) {
    return problem(ex, problems.unauthorized('The API key is invalid, revoked or expired.'));
  }
  ex.key = key;
  const view = ex.gw.access.resolve(key.customerId, key.subscriptionId);
  if (isPromise(view)) return view.then((v) => afterView(ex, v));
  return afterView(ex, view);
}

function afterView(ex: Exchange, view: AccessView): Promise<void> | undefined {
  ex.view = view;
  if (view.blocked !== null) return problem(ex, view.blocked);
  const feature = ex.route?.feature;
  // A route that names a feature needs a plan that includes it. Without a subscription there
  // is no plan: such keys may call only routes without a feature. (With the fallback resolver,
  // when no subscriptions module is wired, routes are gated by rate limit only.)
  if (feature !== undefined && ex.gw.gatesFeatures) {
    const entitlement = view.entitlements[feature];
    if (entitlement === undefined || !entitlement.hasAccess) {
      return problem(
        ex,
        problems.forbidden(
          view.subscription === null
            ? `The feature "${feature}" needs a subscription; ex key's customer has none.`
            : `Your plan does not include the feature "${feature}".`,
          { feature, upgradeUrl: view.upgradeUrl },
        ),
      );
    }
  }
  if (ex.route?.models != null) return readModel(ex);
  return afterAccess(ex);
}

/**
 * Model-gated routes: reads the JSON body (≤ 1 MB, decoded when compressed: `request-body.ts`)
 * to learn the requested `model`, refuses a
 * model whose feature the plan lacks (403) and a model whose hard token quota is used up (429).
 * Checked before the call, so tokens overshoot a hard quota by at most the tokens of the
 * requests already in flight. The body then goes upstream exactly as it was received.
 */
async function readModel(ex: Exchange): Promise<void> {
  const body = await readGatedBody(ex.req, MAX_JSON_BODY);
  if (body instanceof ProblemError) {
    problem(ex, body);
    return;
  }
  ex.body = body.raw;
  ex.decodedBody = body.decoded;
  let model: unknown;
  try {
    model = (JSON.parse(body.decoded.toString('utf8')) as { model?: unknown } | null)?.model;
  } catch {
    model = undefined;
  }
  const view = ex.view as AccessView;
  if (typeof model !== 'string') return afterAccess(ex);
  ex.model = model;
  const feature = (ex.route as CompiledRoute).models?.get(model);
  if (feature !== undefined && ex.gw.gatesFeatures && !view.entitlements[feature]?.hasAccess) {
    problem(
      ex,
      new ProblemError({
        status: 403,
        type: 'model-not-in-plan',
        title: 'Model not in plan',
        detail: `Your plan does not include the model "${model}" (feature "${feature}").`,
        extensions: { model, feature, upgradeUrl: view.upgradeUrl },
      }),
    );
    return;
  }
  for (const [featureKey, quotaView] of Object.entries(view.quotas)) {
    const meter = ex.state.featureMeters.get(featureKey);
    // The gateway's token events carry the model at `$.model`.
    const modelFilter = meter?.filters.find((f) => f.path === '$.model')?.value;
    if (quotaView.soft || meter?.value == null || modelFilter !== model) continue;
    const customerId = view.customer.id;
    const used = await ex.gw.counters.consume(quotaView.counterKey, 0, {
      limit: quotaView.limit,
      hard: true,
      resetAt: quotaView.resetAt.getTime(),
      seed: () => ex.gw.quotaSeed(customerId, quotaView),
    });
    if (used.remaining <= 0) {
      ex.quotaView = quotaView;
      onQuota(ex, { ...used, allowed: false });
      return;
    }
  }
  return afterAccess(ex);
}

function afterAccess(ex: Exchange): Promise<void> | undefined {
  const state = ex.state;
  let spec: RateLimitSpec | null = null;
  let counterKey = '';
  if (state.rateLimitFn !== null) {
    const decision = state.rateLimitFn(ex.context());
    if (decision !== undefined) {
      spec = { limit: decision.limit, windowMs: windowMs(decision.window), burst: decision.burst };
      counterKey = `rl:fn:${decision.key}`;
    }
  }
  if (spec === null) {
    spec = ex.view?.rateLimit ?? state.defaultRateLimit;
    const key = ex.key;
    counterKey =
      key === null
        ? `rl:ip:${ex.req.socket.remoteAddress ?? ''}`
        : state.rateLimitByKey
          ? `rl:k:${key.id}`
          : `rl:c:${key.customerId}`;
  }
  if (spec === null) return afterRateLimit(ex);
  ex.rateSpec = spec;
  const result = ex.gw.counters.rateLimit(counterKey, spec, Date.now());
  if (isPromise(result)) return result.then((r) => onRateLimit(ex, r));
  return onRateLimit(ex, result);
}

function onRateLimit(ex: Exchange, result: RateLimitResult): Promise<void> | undefined {
  ex.rate = result;
  if (!result.allowed) {
    const retryAfter = Math.max(1, Math.ceil(result.retryAfterMs / 1000));
    return problem(
      ex,
      new ProblemError({
        status: 429,
        type: 'rate-limited',
        title: 'Too many requests',
        detail: `Rate limit of ${ex.rateSpec?.limit} requests per ${Math.ceil((ex.rateSpec?.windowMs ?? 0) / 1000)} s exceeded; retry in ${retryAfter} s.`,
        extensions: { limit: ex.rateSpec?.limit, retryAfter, upgradeUrl: ex.view?.upgradeUrl },
        headers: { 'retry-after': String(retryAfter) },
      }),
    );
  }
  return afterRateLimit(ex);
}

function afterRateLimit(ex: Exchange): Promise<void> | undefined {
  const feature = ex.route?.feature;
  const view = ex.view;
  if (feature === undefined || view === null) return inbound(ex);
  const quotaView = view.quotas[feature];
  if (quotaView === undefined) return inbound(ex);
  ex.quotaView = quotaView;
  const customerId = view.customer.id;
  const spec: QuotaSpec = {
    limit: quotaView.limit,
    hard: !quotaView.soft,
    resetAt: quotaView.resetAt.getTime(),
    seed: () => ex.gw.quotaSeed(customerId, quotaView),
  };
  ex.quotaSpec = spec;
  const result = ex.gw.counters.consume(quotaView.counterKey, 1, spec);
  if (isPromise(result)) return result.then((r) => onQuota(ex, r));
  return onQuota(ex, result);
}

function onQuota(ex: Exchange, result: QuotaResult): Promise<void> | undefined {
  ex.quota = result;
  if (!result.allowed) {
    const resetIn = Math.max(1, Math.ceil((result.resetAt - Date.now()) / 1000));
    const feature = ex.quotaView?.featureKey;
    return problem(
      ex,
      new ProblemError({
        status: 429,
        type: 'quota-exceeded',
        title: 'Quota exhausted',
        detail: `The quota of ${result.limit} for "${feature}" is used up until ${new Date(result.resetAt).toISOString()}.`,
        extensions: {
          feature,
          limit: result.limit,
          used: result.used,
          reset: new Date(result.resetAt).toISOString(),
          upgradeUrl: ex.view?.upgradeUrl,
        },
        headers: { 'retry-after': String(resetIn) },
      }),
    );
  }
  return inbound(ex);
}

function inbound(ex: Exchange): Promise<void> | undefined {
  const global = ex.state.inbound;
  const local = (ex.route as CompiledRoute).inbound;
  if (global.length === 0 && local.length === 0) return toUpstream(ex);
  return runInbound(ex, [...global, ...local]);
}

/** Proxies; for a credits-only customer after reserving credits for the call (402 when they do not cover it). */
function toUpstream(ex: Exchange): Promise<void> | undefined {
  const credits = ex.gw.credits;
  // One Map lookup for everyone else.
  if (credits !== null && ex.key !== null && credits.isCreditsOnly(ex.key.customerId)) {
    return reserveCredits(ex, credits);
  }
  ex.proxy();
  return undefined;
}

async function reserveCredits(ex: Exchange, credits: GatewayCredits): Promise<void> {
  const length = Number(ex.req.headers['content-length'] ?? 0);
  ex.creditHold = await credits.reserve({
    customerId: (ex.key as VerifiedKey).customerId,
    view: ex.view as AccessView,
    route: ex.route as CompiledRoute,
    method: ex.req.method ?? 'GET',
    body: ex.decodedBody,
    contentLength: Number.isFinite(length) ? length : 0,
    model: ex.model,
    config: ex.state.config,
    featureMeters: ex.state.featureMeters,
  });
  ex.proxy();
}

async function runInbound(ex: Exchange, policies: InboundPolicy[]): Promise<void> {
  const ctx = ex.context();
  for (const policy of policies) {
    const response = await policy(ctx);
    if (response instanceof Response) {
      await sendWebResponse(ex, response);
      return;
    }
  }
  await toUpstream(ex);
}
