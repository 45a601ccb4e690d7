import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Pool } from 'undici';
import type { ResolvedConfig } from '../config/index.ts';
import type { KeyVerifier } from '../keys/model.ts';
import type { UsageLog } from '../metering/events.ts';
import type { CounterStore } from '../ratelimit/types.ts';
import type { AccessResolver, QuotaView } from '../subscriptions/access.ts';
import type { Logger } from '../util/log.ts';
import { BatchingUsageLog } from './batch-log.ts';
import { compileState, type GatewayState } from './compiled-config.ts';
import type { GatewayCredits } from './credits.ts';
import { allowAllAccessResolver } from './fallback-access.ts';
import { applyLimits, createGatewayServer } from './listener.ts';
import { GatewayMetrics } from './metrics.ts';
import { type CompiledRoute, parseUpstream, type Upstream } from './router.ts';
import { Exchange } from './upstream-exchange.ts';

/**
 * The gateway data plane: a node:http listener that answers from memory whenever it can and
 * proxies to the upstream through undici pools (streamed both ways, no fetch()).
 *
 * In order: route → key → access (blocked / feature) → model (model-gated routes) → rate limit
 * (GCRA) → quota → inbound policies → credits (`steps/`) → proxy → outbound policies → usage
 * events. Every step answers synchronously when its data is cached, so the common request awaits
 * nothing but the upstream.
 *
 * Durability: usage events are appended to the UsageLog before the last byte of the response is
 * written, so a response the client received in full is always in the log.
 *
 * Files: this one holds the gateway (upstream pools, reloads); `listener.ts` the node:http
 * listener and its limits; `steps/` the request steps before the upstream, one file each, in
 * the order of `steps/index.ts`; `upstream-exchange.ts` one request (the upstream call,
 * streaming, completion) and `exchange-state.ts` its state; `usage-events.ts` what a response is metered as; `own-responses.ts`
 * what the gateway answers itself (problems, policy responses, rate-limit and quota headers);
 * `compiled-config.ts` what it compiles from a config; `request-path.ts` and `request-body.ts`
 * how a request's path and gated body are read; `quota-spec.ts` the one quota counter spec.
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
  /** Reserve/settle of prepaid credits for credits-only customers. */
  credits?: GatewayCredits | null;
  /** CloudEvents `source` of gateway events. */
  source?: string;
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
    this.credits = options.credits ?? null;
    this.metrics = options.metrics ?? new GatewayMetrics();
    this.source = options.source ?? 'tollgate-gateway';
    this.debug = this.log.isLevelEnabled('debug');
    this.server = createGatewayServer(options.config.gateway.limits, (req, res) => {
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
    applyLimits(this.server, config.gateway.limits);
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
