import { z } from 'zod';
import type { InboundPolicy, OutboundPolicy } from '../types.ts';
import { bytes, fn, slug, timeoutMs } from './primitives.ts';

/** The gateway: the upstream, routes, and the limits of its listener. */

export const upstreamSchema = z.union([
  z.url(),
  z.strictObject({
    url: z.url(),
    /** Time to wait for the upstream's response headers. */
    timeoutMs: z.number().int().positive().default(30_000),
    connections: z.number().int().positive().default(128),
  }),
]);

export const routeSchema = z.strictObject({
  method: z
    .string()
    .transform((m) => m.toUpperCase())
    .pipe(z.enum(['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS', '*'])),
  /** Path template with `{param}` segments, as in OpenAPI; `*` at the end matches the rest. */
  path: z.string().startsWith('/'),
  /** Feature the route needs (boolean or metered entitlement); also its usage dimension. */
  feature: slug.optional(),
  upstream: upstreamSchema.optional(),
  /** Public routes skip auth (docs, health); they are still proxied and rate limited by IP. */
  public: z.boolean().default(false),
  /**
   * Model gating for AI routes: the JSON body's `model` → the feature a plan needs to use it,
   * e.g. `{ 'tg-large': 'large_model' }`. Unlisted models need only the route's feature.
   */
  models: z.record(z.string().min(1), slug).optional(),
  /**
   * Credits-only customers: output tokens reserved from the prepaid balance before a call whose
   * request sets no `max_tokens` (default 4096).
   */
  reserveOutputTokens: z.number().int().positive().optional(),
  policies: z
    .strictObject({
      inbound: z.array(fn<InboundPolicy>('inbound policy')).default([]),
      outbound: z.array(fn<OutboundPolicy>('outbound policy')).default([]),
    })
    .optional(),
});

/** Defaults of `gateway.limits` (documented in README and SECURITY.md). */
export const GATEWAY_LIMIT_DEFAULTS = {
  bodyBytes: 32 * 1024 * 1024,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 60_000,
  // Above the 60 s idle timeout of common load balancers, so they close idle connections first.
  keepAliveTimeoutMs: 65_000,
};

/** Limits of the gateway listener: proxied body size and slow clients (see src/gateway/listener.ts). */
export const gatewayLimitsSchema = z.strictObject({
  /** Largest request body proxied upstream (model-gated routes read at most 1 MiB). */
  bodyBytes: bytes.default(GATEWAY_LIMIT_DEFAULTS.bodyBytes),
  /** Time a client has to send its request headers. */
  headersTimeoutMs: timeoutMs.default(GATEWAY_LIMIT_DEFAULTS.headersTimeoutMs),
  /** Time a client has to send its whole request (headers and body); the response may take longer. */
  requestTimeoutMs: timeoutMs.default(GATEWAY_LIMIT_DEFAULTS.requestTimeoutMs),
  /** How long an idle keep-alive connection stays open. */
  keepAliveTimeoutMs: timeoutMs.default(GATEWAY_LIMIT_DEFAULTS.keepAliveTimeoutMs),
});
