import { randomUUID } from 'node:crypto';
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { type Dispatcher, Pool } from 'undici';
import type {
  InboundPolicy,
  MeteringHook,
  OutboundPolicy,
  RateLimitFunction,
  ResolvedConfig,
  UsageEventInput,
} from '../config/index.ts';
import { PROBLEM_CONTENT_TYPE, ProblemError, problems } from '../http/problem.ts';
import type { KeyVerifier, VerifiedKey } from '../keys/model.ts';
import type { UsageEvent, UsageLog } from '../metering/events.ts';
import type {
  CounterStore,
  QuotaResult,
  QuotaSpec,
  RateLimitResult,
  RateLimitSpec,
} from '../ratelimit/types.ts';
import type { AccessResolver, AccessView, QuotaView } from '../subscriptions/access.ts';
import { parseWindow } from '../util/duration.ts';
import type { Logger } from '../util/log.ts';
import { allowAllAccessResolver, defaultRateLimitSpec } from './access.ts';
import { type AppendWaiter, BatchingUsageLog } from './batch-log.ts';
import { GatewayContext, RequestInfo } from './context.ts';
import type { CreditHold, GatewayCredits } from './credits.ts';
import { GatewayMetrics } from './metrics.ts';
import {
  type CompiledRoute,
  parseUpstream,
  Router,
  routesFromConfig,
  routesFromOpenApi,
  type Upstream,
} from './router.ts';
import { SseUsageScanner, type TokenUsage, tokensFromJson } from './usage.ts';

/**
 * The gateway data plane: a node:http listener that answers from memory whenever it can and
 * proxies to the upstream through undici pools (streamed both ways, no fetch()).
 *
 * Pipeline, in order (DESIGN.md): route → auth → access (blocked / feature) → rate limit (GCRA)
 * → quota → inbound policies → proxy → outbound policies → usage events. Every step answers
 * synchronously when its data is cached, so the common request awaits nothing but the upstream.
 *
 * Durability: usage events are appended to the UsageLog before the last byte of the response is
 * written, so a response the client received in full is always in the log.
 */
export interface GatewayOptions {
  config: ResolvedConfig;
  verifier: KeyVerifier;
  counters: CounterStore;
  log: Logger;
  /** The subscriptions module's resolver; until it is wired, every key may call every route. */
  access?: AccessResolver;
  /** Where usage events go; null = not metered (no events). */
  usageLog?: UsageLog | null;
  /** Usage already recorded in a quota's period, read when a quota counter is first seen. */
  quotaSeed?: (customerId: string, quota: QuotaView) => Promise<number>;
  metrics?: GatewayMetrics;
  /** CloudEvents `source` of gateway events. */
  source?: string;
}

interface FeatureMeter {
  eventType: string;
  filters: [string, string][];
  /** Path into `data` for the value (SUM etc.); null = each event counts 1. */
  valuePath: string[] | null;
}

interface GatewayState {
  readonly config: ResolvedConfig;
  readonly router: Router;
  readonly inbound: readonly InboundPolicy[];
  readonly outbound: readonly OutboundPolicy[];
  readonly rateLimitFn: RateLimitFunction | null;
  readonly rateLimitByKey: boolean;
  readonly defaultRateLimit: RateLimitSpec | null;
  readonly counts: (status: number) => boolean;
  readonly aiUsage: boolean;
  readonly hook: MeteringHook | undefined;
  readonly featureMeters: Map<string, FeatureMeter>;
}

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
  // Node answers `Expect: 100-continue` itself; the upstream request streams the body anyway.
  'expect',
]);
const MAX_JSON_BODY = 1_048_576;
const EMPTY_QUOTAS: Record<string, QuotaView> = Object.freeze({}) as Record<string, QuotaView>;

let isoMs = 0;
let isoText = '';
/** RFC 3339 time of now, formatted once per millisecond (usage events of a busy gateway share it). */
function nowIso(): string {
  const ms = Date.now();
  if (ms !== isoMs) {
    isoMs = ms;
    isoText = new Date(ms).toISOString();
  }
  return isoText;
}

function isPromise<T>(value: T | Promise<T>): value is Promise<T> {
  return value !== null && typeof value === 'object' && typeof (value as Promise<T>).then === 'function';
}

function countsResponses(rule: ResolvedConfig['metering']['countResponses']): (status: number) => boolean {
  if (rule === 'all') return () => true;
  if (rule === '2xx') return (status) => status >= 200 && status < 300;
  const set = new Set(rule);
  return (status) => set.has(status);
}

function compileState(config: ResolvedConfig): GatewayState {
  const defaultUpstream = parseUpstream(config.upstream);
  const router = new Router(
    [...routesFromOpenApi(config.openapiDocument), ...routesFromConfig(config.routes)],
    defaultUpstream,
  );
  const meters = new Map(config.meters.map((m) => [m.slug, m]));
  const featureMeters = new Map<string, FeatureMeter>();
  for (const feature of config.features) {
    const meter = feature.meter ? meters.get(feature.meter) : undefined;
    if (!meter) continue;
    const filters: [string, string][] = [];
    for (const [dimension, value] of Object.entries(feature.meterGroupByFilters ?? {})) {
      const path = meter.groupBy[dimension];
      // Gateway events put every dimension at the top of `data` ($.model, $.type …).
      if (path) filters.push([path.replace(/^\$\./, ''), value]);
    }
    featureMeters.set(feature.key, {
      eventType: meter.eventType,
      filters,
      valuePath:
        meter.aggregation === 'COUNT' || !meter.valueProperty
          ? null
          : meter.valueProperty.replace(/^\$\./, '').split('.'),
    });
  }
  const rateLimit = config.rateLimit;
  return {
    config,
    router,
    inbound: config.policies.inbound,
    outbound: config.policies.outbound,
    rateLimitFn: typeof rateLimit === 'function' ? rateLimit : null,
    rateLimitByKey: typeof rateLimit !== 'function' && rateLimit.by === 'key',
    defaultRateLimit: defaultRateLimitSpec(config),
    counts: countsResponses(config.metering.countResponses),
    aiUsage: config.metering.aiUsage,
    hook: config.metering.hook,
    featureMeters,
  };
}

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

function apiKeyOf(headers: IncomingHttpHeaders): { raw: string; header: string } | null {
  const auth = headers.authorization;
  if (auth !== undefined && auth.length > 7 && (auth.startsWith('Bearer ') || auth.startsWith('bearer '))) {
    return { raw: auth.slice(7).trim(), header: 'authorization' };
  }
  const x = headers['x-api-key'];
  if (typeof x === 'string' && x !== '') return { raw: x.trim(), header: 'x-api-key' };
  return null;
}

export class Gateway {
  readonly metrics: GatewayMetrics;
  readonly server: Server;
  /** Replaceable until the owning modules are wired (see app.ts). */
  access: AccessResolver;
  quotaSeed: (customerId: string, quota: QuotaView) => Promise<number>;
  readonly verifier: KeyVerifier;
  readonly counters: CounterStore;
  readonly log: Logger;
  readonly source: string;
  readonly debug: boolean;
  #state: GatewayState;
  readonly #pools = new Map<string, Pool>();
  #accessIsFallback: boolean;
  #usageLog: UsageLog | null = null;
  /** What the request path appends to: the usage log behind a per-turn group commit. */
  batchedLog: BatchingUsageLog | null = null;
  /** Reserve/settle of prepaid credits for credits-only customers (wired by app.ts). */
  credits: GatewayCredits | null = null;

  constructor(options: GatewayOptions) {
    this.#state = compileState(options.config);
    this.verifier = options.verifier;
    this.counters = options.counters;
    this.log = options.log;
    this.access = options.access ?? allowAllAccessResolver(options.config);
    this.#accessIsFallback = options.access === undefined;
    this.usageLog = options.usageLog ?? null;
    this.quotaSeed = options.quotaSeed ?? (async () => 0);
    this.metrics = options.metrics ?? new GatewayMetrics();
    this.source = options.source ?? 'tollgate-gateway';
    this.debug = this.log.isLevelEnabled('debug');
    this.server = createServer({ requestTimeout: 0, keepAliveTimeout: 65_000 }, (req, res) => {
      new Exchange(this, this.#state, req, res).run();
    });
  }

  /** Where usage events go (null: responses are not metered). */
  get usageLog(): UsageLog | null {
    return this.#usageLog;
  }

  set usageLog(log: UsageLog | null) {
    this.#usageLog = log;
    this.batchedLog = log === null ? null : new BatchingUsageLog(log);
  }

  /**
   * With the subscriptions module's resolver every feature route needs a plan that includes the
   * feature; the fallback resolver (no subscriptions module) gates by rate limit only.
   */
  get gatesFeatures(): boolean {
    return !this.#accessIsFallback;
  }

  get config(): ResolvedConfig {
    return this.#state.config;
  }

  get routes(): readonly CompiledRoute[] {
    return this.#state.router.routes;
  }

  /**
   * Swaps routes, policies and limits at once. Requests already in flight finish with the state
   * they started with; pools of upstreams that are gone close once their requests are done.
   */
  reload(config: ResolvedConfig): void {
    const next = compileState(config);
    this.#state = next;
    if (this.#accessIsFallback) this.access = allowAllAccessResolver(config);
    const origins = new Set(next.router.routes.map((r) => r.upstream.origin));
    origins.add(parseUpstream(config.upstream).origin);
    for (const [origin, pool] of this.#pools) {
      if (origins.has(origin)) continue;
      this.#pools.delete(origin);
      void pool.close().catch(() => {});
    }
  }

  pool(upstream: Upstream): Pool {
    let pool = this.#pools.get(upstream.origin);
    if (pool === undefined) {
      pool = new Pool(upstream.origin, {
        connections: upstream.connections,
        keepAliveTimeout: 30_000,
        keepAliveMaxTimeout: 600_000,
      });
      this.#pools.set(upstream.origin, pool);
    }
    return pool;
  }

  listen(port: number, host = '127.0.0.1'): Promise<string> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        const address = this.server.address() as AddressInfo;
        const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address;
        resolve(`http://${shown}:${address.port}`);
      });
    });
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => {
      const force = setTimeout(() => this.server.closeAllConnections(), 2_000);
      force.unref();
      this.server.close(() => {
        clearTimeout(force);
        resolve();
      });
      this.server.closeIdleConnections();
    });
    const pools = [...this.#pools.values()];
    this.#pools.clear();
    await Promise.all(pools.map((p) => p.destroy().catch(() => {})));
  }
}

/**
 * One request through the gateway. It is also the undici dispatch handler of its upstream
 * request, so a proxied request allocates one object for the whole exchange.
 */
class Exchange implements Dispatcher.DispatchHandler, AppendWaiter {
  readonly gw: Gateway;
  readonly state: GatewayState;
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly started: number;
  readonly requestId: string;
  path = '';
  search = '';
  route: CompiledRoute | null = null;
  params: Record<string, string> | null = null;
  key: VerifiedKey | null = null;
  authHeader = '';
  view: AccessView | null = null;
  rateSpec: RateLimitSpec | null = null;
  rate: RateLimitResult | null = null;
  quotaView: QuotaView | null = null;
  quotaSpec: QuotaSpec | null = null;
  quota: QuotaResult | null = null;
  ctx: GatewayContext | null = null;
  controller: Dispatcher.DispatchController | null = null;
  status = 0;
  proxied = false;
  clientGone = false;
  done = false;
  /** Response headers waiting for outbound policies; chunks received meanwhile. */
  holding: Buffer[] | null = null;
  ended = false;
  metered = false;
  /**
   * With a Content-Length the client knows the body is complete at its last byte, so the last
   * chunk of a metered response is held until the usage events are in the log (chunked responses
   * complete only with res.end(), so nothing is held back for them: SSE is never delayed).
   */
  holdLast = false;
  last: Buffer | null = null;
  json: Buffer[] | null = null;
  jsonBytes = 0;
  sse: SseUsageScanner | null = null;
  /** The request body, when it was read to learn the model (model-gated routes). */
  body: Buffer | null = null;
  model: string | null = null;
  /** This response's usage events, while they are being appended. */
  events: UsageEvent[] | null = null;
  /** Credits reserved for this call (credits-only customers), settled when it is over. */
  creditHold: CreditHold | null = null;
  /** The usage events are in the log: what the call is charged for. */
  recorded = false;

  constructor(gw: Gateway, state: GatewayState, req: IncomingMessage, res: ServerResponse) {
    this.gw = gw;
    this.state = state;
    this.req = req;
    this.res = res;
    this.started = performance.now();
    this.requestId = randomUUID();
  }

  run(): void {
    try {
      const result = this.pipeline();
      if (result !== undefined) result.catch((error: unknown) => this.fail(error));
    } catch (error) {
      this.fail(error);
    }
  }

  /** Returns a promise only when some step had to wait (cache miss, async policy). */
  pipeline(): Promise<void> | undefined {
    const req = this.req;
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    this.path = q < 0 ? url : url.slice(0, q);
    this.search = q < 0 ? '' : url.slice(q + 1);
    const method = req.method ?? 'GET';
    const match = this.state.router.match(method, this.path);
    if (match === null) {
      return this.problem(problems.notFound(`no route for ${method} ${this.path}`));
    }
    if ('allowed' in match) {
      return this.problem(
        new ProblemError({
          status: 405,
          type: 'method-not-allowed',
          title: 'Method not allowed',
          detail: `${method} is not allowed on ${this.path}; allowed: ${match.allowed.join(', ')}`,
          headers: { allow: match.allowed.join(', ') },
        }),
      );
    }
    this.route = match.route;
    this.params = match.params;
    if (match.route.public) return this.afterAccess();
    const presented = apiKeyOf(req.headers);
    if (presented === null) {
      return this.problem(
        problems.unauthorized(
          'Send an API key as "Authorization: Bearer <key>" or in the "x-api-key" header.',
        ),
      );
    }
    this.authHeader = presented.header;
    const verified = this.gw.verifier.verify(presented.raw);
    if (isPromise(verified)) return verified.then((key) => this.afterAuth(key));
    return this.afterAuth(verified);
  }

  afterAuth(key: VerifiedKey | null): Promise<void> | undefined {
    if (key === null) {
      return this.problem(problems.unauthorized('The API key is invalid, revoked or expired.'));
    }
    this.key = key;
    const view = this.gw.access.resolve(key.customerId, key.subscriptionId);
    if (isPromise(view)) return view.then((v) => this.afterView(v));
    return this.afterView(view);
  }

  afterView(view: AccessView): Promise<void> | undefined {
    this.view = view;
    if (view.blocked !== null) return this.problem(view.blocked);
    const feature = this.route?.feature;
    // A route that names a feature needs a plan that includes it. Without a subscription there
    // is no plan: such keys may call only routes without a feature. (With the fallback resolver,
    // when no subscriptions module is wired, routes are gated by rate limit only.)
    if (feature !== undefined && this.gw.gatesFeatures) {
      const entitlement = view.entitlements[feature];
      if (entitlement === undefined || !entitlement.hasAccess) {
        return this.problem(
          problems.forbidden(
            view.subscription === null
              ? `The feature "${feature}" needs a subscription; this key's customer has none.`
              : `Your plan does not include the feature "${feature}".`,
            { feature, upgradeUrl: view.upgradeUrl },
          ),
        );
      }
    }
    if (this.route?.models != null) return this.readModel();
    return this.afterAccess();
  }

  /**
   * Model-gated routes: reads the JSON body (≤ 1 MB) to learn the requested `model`, refuses a
   * model whose feature the plan lacks (403) and a model whose hard token quota is used up (429).
   * Checked before the call, so tokens overshoot a hard quota by at most the tokens of the
   * requests already in flight. The body then goes upstream exactly as it was received.
   */
  async readModel(): Promise<void> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of this.req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > MAX_JSON_BODY) {
        this.problem(
          new ProblemError({
            status: 413,
            type: 'body-too-large',
            title: 'Request body too large',
            detail: `This route reads the request to choose the model; send at most ${MAX_JSON_BODY} bytes.`,
          }),
        );
        return;
      }
      chunks.push(chunk);
    }
    this.body = Buffer.concat(chunks, size);
    let model: unknown;
    try {
      model = (JSON.parse(this.body.toString('utf8')) as { model?: unknown } | null)?.model;
    } catch {
      model = undefined;
    }
    const view = this.view as AccessView;
    if (typeof model !== 'string') return this.afterAccess();
    this.model = model;
    const feature = (this.route as CompiledRoute).models?.get(model);
    if (feature !== undefined && this.gw.gatesFeatures && !view.entitlements[feature]?.hasAccess) {
      this.problem(
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
      const meter = this.state.featureMeters.get(featureKey);
      const modelFilter = meter?.filters.find(([dimension]) => dimension === 'model')?.[1];
      if (quotaView.soft || meter?.valuePath == null || modelFilter !== model) continue;
      const customerId = view.customer.id;
      const used = await this.gw.counters.consume(quotaView.counterKey, 0, {
        limit: quotaView.limit,
        hard: true,
        resetAt: quotaView.resetAt.getTime(),
        seed: () => this.gw.quotaSeed(customerId, quotaView),
      });
      if (used.remaining <= 0) {
        this.quotaView = quotaView;
        this.onQuota({ ...used, allowed: false });
        return;
      }
    }
    return this.afterAccess();
  }

  context(): GatewayContext {
    if (this.ctx === null) {
      const view = this.view;
      this.ctx = new GatewayContext({
        requestId: this.requestId,
        request: new RequestInfo(this.req, this.path, this.search, this.params ?? {}),
        route: (this.route as CompiledRoute).info,
        key: this.key,
        customer: view?.customer ?? null,
        subscription: view?.subscription ?? null,
        entitlements: view?.entitlements,
        log: this.gw.log,
      });
    }
    return this.ctx;
  }

  afterAccess(): Promise<void> | undefined {
    const state = this.state;
    let spec: RateLimitSpec | null = null;
    let counterKey = '';
    if (state.rateLimitFn !== null) {
      const decision = state.rateLimitFn(this.context());
      if (decision !== undefined) {
        spec = { limit: decision.limit, windowMs: windowMs(decision.window), burst: decision.burst };
        counterKey = `rl:fn:${decision.key}`;
      }
    }
    if (spec === null) {
      spec = this.view?.rateLimit ?? state.defaultRateLimit;
      const key = this.key;
      counterKey =
        key === null
          ? `rl:ip:${this.req.socket.remoteAddress ?? ''}`
          : state.rateLimitByKey
            ? `rl:k:${key.id}`
            : `rl:c:${key.customerId}`;
    }
    if (spec === null) return this.afterRateLimit();
    this.rateSpec = spec;
    const result = this.gw.counters.rateLimit(counterKey, spec, Date.now());
    if (isPromise(result)) return result.then((r) => this.onRateLimit(r));
    return this.onRateLimit(result);
  }

  onRateLimit(result: RateLimitResult): Promise<void> | undefined {
    this.rate = result;
    if (!result.allowed) {
      const retryAfter = Math.max(1, Math.ceil(result.retryAfterMs / 1000));
      return this.problem(
        new ProblemError({
          status: 429,
          type: 'rate-limited',
          title: 'Too many requests',
          detail: `Rate limit of ${this.rateSpec?.limit} requests per ${Math.ceil((this.rateSpec?.windowMs ?? 0) / 1000)} s exceeded; retry in ${retryAfter} s.`,
          extensions: { limit: this.rateSpec?.limit, retryAfter, upgradeUrl: this.view?.upgradeUrl },
          headers: { 'retry-after': String(retryAfter) },
        }),
      );
    }
    return this.afterRateLimit();
  }

  afterRateLimit(): Promise<void> | undefined {
    const feature = this.route?.feature;
    const view = this.view;
    if (feature === undefined || view === null) return this.inbound();
    const quotaView = view.quotas[feature];
    if (quotaView === undefined) return this.inbound();
    this.quotaView = quotaView;
    const customerId = view.customer.id;
    const spec: QuotaSpec = {
      limit: quotaView.limit,
      hard: !quotaView.soft,
      resetAt: quotaView.resetAt.getTime(),
      seed: () => this.gw.quotaSeed(customerId, quotaView),
    };
    this.quotaSpec = spec;
    const result = this.gw.counters.consume(quotaView.counterKey, 1, spec);
    if (isPromise(result)) return result.then((r) => this.onQuota(r));
    return this.onQuota(result);
  }

  onQuota(result: QuotaResult): Promise<void> | undefined {
    this.quota = result;
    if (!result.allowed) {
      const resetIn = Math.max(1, Math.ceil((result.resetAt - Date.now()) / 1000));
      const feature = this.quotaView?.featureKey;
      return this.problem(
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
            upgradeUrl: this.view?.upgradeUrl,
          },
          headers: { 'retry-after': String(resetIn) },
        }),
      );
    }
    return this.inbound();
  }

  inbound(): Promise<void> | undefined {
    const global = this.state.inbound;
    const local = (this.route as CompiledRoute).inbound;
    if (global.length === 0 && local.length === 0) return this.toUpstream();
    return this.runInbound([...global, ...local]);
  }

  /** Proxies; for a credits-only customer after reserving credits for the call (402 when they do not cover it). */
  toUpstream(): Promise<void> | undefined {
    const credits = this.gw.credits;
    // One Map lookup for everyone else.
    if (credits !== null && this.key !== null && credits.isCreditsOnly(this.key.customerId)) {
      return this.reserveCredits(credits);
    }
    this.proxy();
    return undefined;
  }

  async reserveCredits(credits: GatewayCredits): Promise<void> {
    const length = Number(this.req.headers['content-length'] ?? 0);
    this.creditHold = await credits.reserve({
      customerId: (this.key as VerifiedKey).customerId,
      view: this.view as AccessView,
      route: this.route as CompiledRoute,
      method: this.req.method ?? 'GET',
      body: this.body,
      contentLength: Number.isFinite(length) ? length : 0,
      model: this.model,
      config: this.state.config,
      featureMeters: this.state.featureMeters,
    });
    this.proxy();
  }

  async runInbound(policies: InboundPolicy[]): Promise<void> {
    const ctx = this.context();
    for (const policy of policies) {
      const response = await policy(ctx);
      if (response instanceof Response) {
        await this.sendWebResponse(response);
        return;
      }
    }
    await this.toUpstream();
  }

  /** Headers every answer carries: request id, rate limit, quota. */
  addOwnHeaders(headers: Record<string, string | string[] | number | undefined>): void {
    headers['x-request-id'] = this.requestId;
    const spec = this.rateSpec;
    const rate = this.rate;
    if (spec !== null && rate !== null) {
      headers['ratelimit-policy'] = rateLimitPolicyHeader(spec);
      headers.ratelimit = rateLimitHeader(rate);
    }
    const quota = this.quota;
    if (quota !== null) {
      headers['x-quota-limit'] = String(quota.limit);
      headers['x-quota-remaining'] = String(quota.remaining);
      headers['x-quota-reset'] = String(Math.max(0, Math.ceil((quota.resetAt - Date.now()) / 1000)));
    }
  }

  proxy(): void {
    const req = this.req;
    const res = this.res;
    const route = this.route as CompiledRoute;
    const upstream = route.upstream;
    const source = req.headers;
    const headers: Record<string, string | string[]> = {};
    // Headers named in `Connection` are hop-by-hop too (RFC 9110 §7.6.1).
    const connection = source.connection;
    const named =
      connection !== undefined && connection !== 'keep-alive' && connection !== 'close'
        ? connection.toLowerCase().split(/\s*,\s*/)
        : null;
    for (const name in source) {
      if (HOP_BY_HOP.has(name) || name === this.authHeader || name.startsWith('x-tollgate-')) continue;
      if (named?.includes(name)) continue;
      const value = source[name];
      if (value !== undefined) headers[name] = value;
    }
    const ip = req.socket.remoteAddress ?? '';
    const forwardedFor = source['x-forwarded-for'];
    headers['x-forwarded-for'] = forwardedFor ? `${forwardedFor}, ${ip}` : ip;
    // A TLS terminator in front of the gateway sets these; otherwise this listener is plain HTTP.
    if (headers['x-forwarded-proto'] === undefined) headers['x-forwarded-proto'] = 'http';
    if (headers['x-forwarded-host'] === undefined && source.host !== undefined) {
      headers['x-forwarded-host'] = source.host;
    }
    headers['x-request-id'] = this.requestId;
    const key = this.key;
    if (key !== null) {
      headers['x-tollgate-customer'] = key.customerId;
      headers['x-tollgate-key'] = key.id;
      const plan = this.view?.subscription?.plan.key;
      if (plan !== undefined) headers['x-tollgate-plan'] = plan;
    }
    const length = source['content-length'];
    const hasBody = length !== undefined ? length !== '0' : source['transfer-encoding'] !== undefined;
    this.proxied = true;
    res.on('close', () => this.onClientClose());
    this.gw.pool(upstream).dispatch(
      {
        path: upstream.basePath === '' ? (req.url ?? '/') : upstream.basePath + (req.url ?? '/'),
        method: (req.method ?? 'GET') as Dispatcher.HttpMethod,
        headers,
        body: this.body ?? (hasBody ? req : null),
        headersTimeout: upstream.timeoutMs,
      },
      this,
    );
  }

  onClientClose(): void {
    if (this.res.writableFinished || this.done) return;
    this.clientGone = true;
    this.controller?.abort(new Error('client closed the connection'));
  }

  // --- undici dispatch handler ---

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.clientGone) controller.abort(new Error('client closed the connection'));
  }

  onResponseStart(
    controller: Dispatcher.DispatchController,
    statusCode: number,
    upstreamHeaders: IncomingHttpHeaders,
  ): void {
    this.status = statusCode;
    const headers: Record<string, string | string[]> = {};
    for (const name in upstreamHeaders) {
      if (HOP_BY_HOP.has(name)) continue;
      const value = upstreamHeaders[name];
      if (value !== undefined) headers[name] = value;
    }
    this.addOwnHeaders(headers);
    const state = this.state;
    this.metered = this.key !== null && this.gw.batchedLog !== null && state.counts(statusCode);
    if (this.metered && (state.aiUsage || state.hook !== undefined)) {
      const type = upstreamHeaders['content-type'];
      // Compressed bodies are passed through untouched and not inspected for token usage.
      const encoding = upstreamHeaders['content-encoding'];
      if (typeof type === 'string' && (encoding === undefined || encoding === 'identity')) {
        if (type.includes('text/event-stream')) this.sse = new SseUsageScanner();
        else if (type.includes('json')) this.json = [];
      }
    }
    this.holdLast = this.metered && upstreamHeaders['content-length'] !== undefined;
    const outbound = this.route?.outbound ?? [];
    if (state.outbound.length === 0 && outbound.length === 0) {
      this.res.writeHead(statusCode, headers);
      return;
    }
    this.holding = [];
    controller.pause();
    this.runOutbound([...state.outbound, ...outbound], statusCode, headers).then(
      () => {
        if (this.clientGone) return;
        this.res.writeHead(statusCode, headers);
        const held = this.holding ?? [];
        this.holding = null;
        for (const chunk of held) this.forward(chunk);
        controller.resume();
        if (this.ended) this.finish();
      },
      (error: unknown) => {
        controller.abort(error instanceof Error ? error : new Error(String(error)));
        this.holding = null;
        this.fail(error);
      },
    );
  }

  async runOutbound(
    policies: OutboundPolicy[],
    status: number,
    headers: Record<string, string | string[]>,
  ): Promise<void> {
    const ctx = this.context();
    const response = {
      status,
      headers,
      setHeader(name: string, value: string) {
        headers[name.toLowerCase()] = value;
      },
    };
    for (const policy of policies) await policy(ctx, response);
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.clientGone) return;
    if (this.json !== null) {
      this.jsonBytes += chunk.length;
      if (this.jsonBytes > MAX_JSON_BODY) this.json = null;
      else this.json.push(chunk);
    }
    if (this.holding !== null) {
      this.holding.push(chunk);
    } else if (!this.forward(chunk)) {
      controller.pause();
      this.res.once('drain', () => controller.resume());
    }
    // Scanned after the chunk was handed to the client: extraction never delays a stream.
    if (this.sse !== null) this.sse.push(chunk);
  }

  forward(chunk: Buffer): boolean {
    if (!this.holdLast) return this.res.write(chunk);
    const previous = this.last;
    this.last = chunk;
    return previous === null ? true : this.res.write(previous);
  }

  onResponseEnd(): void {
    this.ended = true;
    if (this.holding !== null) return; // outbound policies still running; they finish
    this.finish();
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    this.refundQuota();
    if (this.clientGone) {
      this.observe(499);
      return;
    }
    if (this.res.headersSent) {
      this.gw.log.error({ err: error, requestId: this.requestId }, 'upstream failed mid-response');
      this.done = true;
      this.res.destroy(error);
      this.observe(this.status);
      return;
    }
    const code = (error as { code?: string }).code;
    if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT') {
      void this.problem(
        new ProblemError({
          status: 504,
          type: 'upstream-timeout',
          title: 'Upstream timeout',
          detail: `The upstream did not answer within ${this.route?.upstream.timeoutMs} ms.`,
        }),
      );
      return;
    }
    this.gw.log.error(
      { err: error, requestId: this.requestId, upstream: this.route?.upstream.origin },
      'upstream unreachable',
    );
    void this.problem(
      new ProblemError({
        status: 502,
        type: 'upstream-unavailable',
        title: 'Bad gateway',
        detail: 'The upstream could not be reached or closed the connection.',
      }),
    );
  }

  // --- completion ---

  /**
   * Completes the response: for a metered one, the usage events are appended to the log first
   * (awaited when the log is asynchronous), and only then is the last byte written. Synchronous
   * end to end when the log is (embedded) and no metering hook is set.
   */
  finish(): void {
    if (this.done) return;
    if (!this.metered) {
      this.refundQuota();
      this.end();
      return;
    }
    let events: UsageEvent[] | Promise<UsageEvent[]>;
    try {
      events = this.usageEvents();
    } catch (error) {
      this.meteringFailed(error);
      return;
    }
    if (isPromise(events)) {
      events.then(
        (list) => this.record(list),
        (error: unknown) => this.meteringFailed(error),
      );
      return;
    }
    this.record(events);
  }

  record(events: UsageEvent[]): void {
    if (events.length === 0) {
      this.end();
      return;
    }
    this.events = events;
    try {
      (this.gw.batchedLog as BatchingUsageLog).enqueue(events, this);
    } catch (error) {
      this.meteringFailed(error);
    }
  }

  /** The usage log's answer ({@link AppendWaiter}): the events are in the log, or could not be appended. */
  appended(error: unknown): void {
    if (error !== undefined) {
      this.meteringFailed(error);
      return;
    }
    this.recorded = true;
    this.addTokenQuotas(this.events as UsageEvent[]);
    this.end();
  }

  end(): void {
    if (this.done) return;
    this.done = true;
    const last = this.last;
    this.last = null;
    if (last !== null) this.res.end(last);
    else this.res.end();
    this.observe(this.status);
  }

  /** Not recorded → not delivered in full: the client sees a broken response, not a free one. */
  meteringFailed(error: unknown): void {
    this.gw.log.error({ err: error, requestId: this.requestId }, 'could not record usage; response aborted');
    this.done = true;
    this.res.destroy(error instanceof Error ? error : new Error(String(error)));
    this.observe(500);
  }

  /** A request that will not be metered does not use up quota. */
  refundQuota(): void {
    const view = this.quotaView;
    const spec = this.quotaSpec;
    if (view === null || spec === null || this.quota === null || !this.quota.allowed) return;
    this.quota = null;
    try {
      const result = this.gw.counters.add(view.counterKey, -1, spec);
      if (isPromise(result))
        result.catch((error) => this.gw.log.error({ err: error }, 'quota refund failed'));
    } catch (error) {
      this.gw.log.error({ err: error }, 'quota refund failed');
    }
  }

  usageEvents(): UsageEvent[] | Promise<UsageEvent[]> {
    const key = this.key as VerifiedKey;
    const route = this.route as CompiledRoute;
    const latencyMs = Math.round((performance.now() - this.started) * 100) / 100;
    let tokens: TokenUsage | null = null;
    let body: unknown = null;
    if (this.json !== null && this.jsonBytes > 0) {
      const buffer = this.json.length === 1 ? (this.json[0] as Buffer) : Buffer.concat(this.json);
      if (this.state.hook !== undefined || buffer.includes('"usage"')) {
        try {
          body = JSON.parse(buffer.toString('utf8'));
        } catch {
          body = null;
        }
        if (this.state.aiUsage) tokens = tokensFromJson(body);
      }
    } else if (this.sse !== null) {
      tokens = this.state.aiUsage ? this.sse.result() : null;
      body = this.sse.lastUsageChunk;
    }
    const hook = this.state.hook;
    if (tokens === null && hook === undefined) {
      // The common case, built directly (same event as toEvents would make).
      return [
        {
          specversion: '1.0',
          id: `${this.requestId}/request`,
          source: this.gw.source,
          type: 'request',
          subject: key.customerId,
          time: nowIso(),
          datacontenttype: 'application/json',
          data: {
            route: route.path,
            method: route.method === '*' ? this.req.method : route.method,
            status: this.status,
            latencyMs,
            key: key.id,
          },
        },
      ];
    }
    const inputs: UsageEventInput[] = [
      {
        type: 'request',
        data: {
          route: route.path,
          method: route.method === '*' ? this.req.method : route.method,
          status: this.status,
          latencyMs,
          key: key.id,
        },
      },
    ];
    if (tokens !== null) {
      const { model } = tokens;
      inputs.push({
        type: 'tokens',
        data: { tokens: tokens.input, model, type: 'input', key: key.id, route: route.path },
      });
      inputs.push({
        type: 'tokens',
        data: { tokens: tokens.output, model, type: 'output', key: key.id, route: route.path },
      });
      if (tokens.cached > 0) {
        inputs.push({
          type: 'tokens',
          data: { tokens: tokens.cached, model, type: 'cached', key: key.id, route: route.path },
        });
      }
    }
    if (hook === undefined) return this.toEvents(inputs, false);
    return Promise.resolve(hook(this.context(), { status: this.status, body, events: inputs })).then((out) =>
      Array.isArray(out) ? this.toEvents(out, true) : this.toEvents(inputs, false),
    );
  }

  /** CloudEvents with deterministic ids: `<requestId>/request`, `<requestId>/tokens/<type>`, or `<requestId>/<type>/<i>` for hook events. */
  toEvents(inputs: readonly UsageEventInput[], fromHook: boolean): UsageEvent[] {
    const time = nowIso();
    const subject = (this.key as VerifiedKey).customerId;
    const source = this.gw.source;
    const requestId = this.requestId;
    return inputs.map((input, i) => ({
      specversion: '1.0',
      id: fromHook
        ? `${requestId}/${input.type}/${i}`
        : input.type === 'request'
          ? `${requestId}/request`
          : `${requestId}/tokens/${String(input.data.type)}`,
      source,
      type: input.type,
      subject: input.subject ?? subject,
      time,
      datacontenttype: 'application/json',
      data: input.data,
    }));
  }

  /** Token (and other post-response) quotas: added after the fact, so overshoot ≤ requests in flight. */
  addTokenQuotas(events: readonly UsageEvent[]): void {
    const quotas = this.view?.quotas ?? EMPTY_QUOTAS;
    for (const featureKey in quotas) {
      if (featureKey === this.route?.feature) continue;
      const quota = quotas[featureKey] as QuotaView;
      const meter = this.state.featureMeters.get(featureKey);
      if (meter === undefined) continue;
      let amount = 0;
      for (const event of events) {
        if (event.type !== meter.eventType) continue;
        let matches = true;
        for (const [field, value] of meter.filters) {
          if (String(event.data[field]) !== value) {
            matches = false;
            break;
          }
        }
        if (!matches) continue;
        if (meter.valuePath === null) amount += 1;
        else {
          let v: unknown = event.data;
          for (const part of meter.valuePath) v = (v as Record<string, unknown> | undefined)?.[part];
          if (typeof v === 'number' && Number.isFinite(v)) amount += v;
        }
      }
      if (amount === 0) continue;
      const customerId = this.view?.customer.id ?? '';
      const spec: QuotaSpec = {
        limit: quota.limit,
        hard: !quota.soft,
        resetAt: quota.resetAt.getTime(),
        seed: () => this.gw.quotaSeed(customerId, quota),
      };
      try {
        const r = this.gw.counters.add(quota.counterKey, amount, spec);
        if (isPromise(r)) r.catch((error) => this.gw.log.error({ err: error }, 'token quota update failed'));
      } catch (error) {
        this.gw.log.error({ err: error }, 'token quota update failed');
      }
    }
  }

  async sendWebResponse(response: Response): Promise<void> {
    const headers: Record<string, string | string[] | number | undefined> = {};
    response.headers.forEach((value, name) => {
      headers[name] = value;
    });
    const body = Buffer.from(await response.arrayBuffer());
    headers['content-length'] = body.length;
    this.addOwnHeaders(headers);
    this.status = response.status;
    this.done = true;
    this.res.writeHead(response.status, headers);
    this.res.end(body);
    this.refundQuota();
    this.observe(response.status);
  }

  /** Answers with a problem (always returns undefined so pipeline steps can `return` it). */
  problem(problem: ProblemError): undefined {
    if (this.res.headersSent || this.done) return undefined;
    const body = JSON.stringify(problem.toBody(this.path || undefined));
    const headers: Record<string, string | string[] | number | undefined> = {
      'content-type': PROBLEM_CONTENT_TYPE,
      'content-length': Buffer.byteLength(body),
      ...problem.headers,
    };
    this.addOwnHeaders(headers);
    this.status = problem.status;
    this.done = true;
    this.res.writeHead(problem.status, headers);
    this.res.end(body);
    this.observe(problem.status);
    return undefined;
  }

  fail(error: unknown): void {
    if (error instanceof ProblemError) {
      this.problem(error);
      return;
    }
    this.gw.log.error({ err: error, requestId: this.requestId, path: this.path }, 'gateway error');
    this.refundQuota();
    if (this.res.headersSent) {
      this.done = true;
      this.res.destroy();
      this.settleCredits();
      return;
    }
    this.problem(problems.internal());
  }

  /** Books what the call cost against its reservation: its usage if it was metered, else nothing. */
  settleCredits(): void {
    const hold = this.creditHold;
    if (hold === null) return;
    this.creditHold = null;
    (this.gw.credits as GatewayCredits).settle(hold, this.recorded ? this.events : null);
  }

  observe(status: number): void {
    this.settleCredits();
    const seconds = (performance.now() - this.started) / 1000;
    this.gw.metrics.observe(status, seconds, this.proxied);
    if (this.gw.debug) {
      this.gw.log.debug(
        {
          requestId: this.requestId,
          method: this.req.method,
          path: this.path,
          route: this.route?.path,
          status,
          ms: Math.round(seconds * 100_000) / 100,
          key: this.key?.id,
        },
        'request',
      );
    }
  }
}
