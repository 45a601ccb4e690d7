import type {
  InboundPolicy,
  MeteringHook,
  OutboundPolicy,
  RateLimitFunction,
  ResolvedConfig,
} from '../config/index.ts';
import type { RateLimitSpec } from '../ratelimit/types.ts';
import { defaultRateLimitSpec } from './fallback-access.ts';
import { compileFeatureMeters, type FeatureMeter } from './feature-meters.ts';
import { parseUpstream, Router, routesFromConfig, routesFromOpenApi, withDefaultFeature } from './router.ts';

/** What the gateway compiles from a config; a reload swaps it whole (see `Gateway.reload`). */

export interface GatewayState {
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
  /** `gateway.limits.bodyBytes`: the largest request body proxied. */
  readonly bodyBytes: number;
}

/** The most of a JSON body the gateway reads: a model-gated request, or a response scanned for usage. */
export const MAX_JSON_BODY = 1_048_576;

/** Pipeline steps answer synchronously when their data is cached and return a promise only when they wait. */
export function isPromise<T>(value: T | Promise<T>): value is Promise<T> {
  return value !== null && typeof value === 'object' && typeof (value as Promise<T>).then === 'function';
}

function countsResponses(rule: ResolvedConfig['metering']['countResponses']): (status: number) => boolean {
  if (rule === 'all') return () => true;
  if (rule === '2xx') return (status) => status >= 200 && status < 300;
  const set = new Set(rule);
  return (status) => set.has(status);
}

export function compileState(config: ResolvedConfig): GatewayState {
  const defaultUpstream = parseUpstream(config.upstream);
  const router = new Router(
    withDefaultFeature(
      [...routesFromOpenApi(config.openapiDocument), ...routesFromConfig(config.routes)],
      config.gateway.defaultFeature,
    ),
    defaultUpstream,
  );
  const featureMeters = compileFeatureMeters(config);
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
    bodyBytes: config.gateway.limits.bodyBytes,
  };
}
