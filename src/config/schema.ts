import { z } from 'zod';
import { billingSchema } from './schema/billing.ts';
import { CONSOLE_LIMIT_DEFAULTS, consoleLimitsSchema, proxyAddress } from './schema/console.ts';
import {
  GATEWAY_LIMIT_DEFAULTS,
  gatewayLimitsSchema,
  routeSchema,
  upstreamSchema,
} from './schema/gateway.ts';
import { featureSchema, meterSchema } from './schema/meters.ts';
import { notificationsSchema } from './schema/notifications.ts';
import {
  type entitlementSchema,
  type includedCreditsSchema,
  type phaseSchema,
  planSchema,
  type rateCardSchema,
  rateLimitSchema,
} from './schema/plans.ts';
import type { priceSchema } from './schema/prices.ts';
import { fn, slug, window } from './schema/primitives.ts';
import { scaleOutSchema } from './schema/scale-out.ts';
import type { InboundPolicy, MeteringHook, OutboundPolicy, RateLimitFunction } from './types.ts';

export { CONSOLE_LIMIT_DEFAULTS } from './schema/console.ts';
export { GATEWAY_LIMIT_DEFAULTS, routeSchema } from './schema/gateway.ts';
export { featureSchema, meterSchema } from './schema/meters.ts';
export {
  entitlementSchema,
  includedCreditsSchema,
  phaseSchema,
  planSchema,
  rateCardSchema,
  rateLimitSchema,
} from './schema/plans.ts';
export { priceSchema } from './schema/prices.ts';
export { money } from './schema/primitives.ts';

/**
 * The schema of `tollgate.config.ts`. It is the contract with users: every message names the
 * field that is wrong and says what would be right. Shapes follow OpenMeter's catalog
 * (meters → features → plans → phases → rate cards → price + entitlement template).
 */

export const configSchema = z.strictObject({
  name: z.string().default('My API'),
  upstream: upstreamSchema,
  /** OpenAPI 3 document (JSON or YAML), relative to the config file. Its operations become routes. */
  openapi: z.string().optional(),
  routes: z.array(routeSchema).default([]),
  gateway: z
    .strictObject({
      port: z.number().int().min(0).max(65535).default(8080),
      host: z.string().default('127.0.0.1'),
      /** Hosts that reach the console (for upgrade links in 429 problems). */
      publicUrl: z.url().optional(),
      /**
       * The feature a route needs when neither its OpenAPI operation nor its `routes` entry names
       * one (public routes excepted): an operation added to the document later is then gated and
       * counted like the others. Unset: such a route is open to every valid key.
       */
      defaultFeature: slug.optional(),
      limits: gatewayLimitsSchema.default(GATEWAY_LIMIT_DEFAULTS),
    })
    .default({ port: 8080, host: '127.0.0.1', limits: GATEWAY_LIMIT_DEFAULTS }),
  console: z
    .strictObject({
      port: z.number().int().min(0).max(65535).default(8081),
      host: z.string().default('127.0.0.1'),
      publicUrl: z.url().optional(),
      /**
       * Which proxies' `X-Forwarded-For`/`-Proto` to believe: `false` (default) nobody, a number
       * of hops in front of Tollgate, or a list of proxy addresses/CIDRs (see src/http/client-address.ts).
       */
      trustProxy: z
        .union([z.literal(false), z.number().int().min(0).max(16), z.array(proxyAddress).min(1)])
        .default(false),
      limits: consoleLimitsSchema.default(CONSOLE_LIMIT_DEFAULTS),
    })
    .default({ port: 8081, host: '127.0.0.1', trustProxy: false, limits: CONSOLE_LIMIT_DEFAULTS }),
  keys: z
    .strictObject({
      /** Readable prefix of every key: `<prefix>_live_…`. */
      prefix: z
        .string()
        .regex(/^[a-z]{2,8}$/)
        .default('tg'),
      /** How long the old key keeps working after a roll. */
      rollGracePeriod: window.default('24h'),
    })
    .default({ prefix: 'tg', rollGracePeriod: '24h' }),
  meters: z.array(meterSchema).default([]),
  features: z.array(featureSchema).default([]),
  plans: z.array(planSchema).default([]),
  /** Default rate limit for keys whose plan sets none, and the keying rule. */
  rateLimit: z
    .union([
      z.strictObject({
        by: z.enum(['key', 'customer']).default('customer'),
        default: rateLimitSchema.optional(),
      }),
      fn<RateLimitFunction>('(ctx) => ({ key, limit, window })'),
    ])
    .default({ by: 'customer' }),
  policies: z
    .strictObject({
      inbound: z.array(fn<InboundPolicy>('inbound policy')).default([]),
      outbound: z.array(fn<OutboundPolicy>('outbound policy')).default([]),
    })
    .default({ inbound: [], outbound: [] }),
  metering: z
    .strictObject({
      /** Which responses are metered: '2xx' (default), 'all', or a list of status codes. */
      countResponses: z.union([z.enum(['2xx', 'all']), z.array(z.number().int())]).default('2xx'),
      /** Extract AI token usage from OpenAI/Anthropic-style JSON and SSE responses. */
      aiUsage: z.boolean().default(true),
      /** Add or change usage events (custom dimensions). */
      hook: fn<MeteringHook>('metering hook').optional(),
    })
    .default({ countResponses: '2xx', aiUsage: true }),
  billing: billingSchema,
  notifications: notificationsSchema,
  portal: z
    .strictObject({
      enabled: z.boolean().default(true),
      branding: z
        .strictObject({
          name: z.string().optional(),
          logoUrl: z.string().optional(),
          primaryColor: z
            .string()
            .regex(/^#[0-9a-fA-F]{6}$/)
            .default('#4f46e5'),
        })
        .default({ primaryColor: '#4f46e5' }),
      /** SMTP URL for portal mail; absent = print to log and keep in the dev mailbox. */
      smtp: z.string().optional(),
      from: z.string().default('Tollgate <no-reply@localhost>'),
    })
    .default({ enabled: true, branding: { primaryColor: '#4f46e5' }, from: 'Tollgate <no-reply@localhost>' }),
  admin: z
    .strictObject({
      /** Bearer token for `/api/admin`; defaults to TOLLGATE_ADMIN_TOKEN or a generated one. */
      token: z.string().min(16).optional(),
    })
    .default({}),
  scaleOut: scaleOutSchema,
});

export type TollgateConfigInput = z.input<typeof configSchema>;
export type ResolvedConfig = z.output<typeof configSchema> & {
  /** Absolute directory of the config file; relative paths resolve against it. */
  baseDir: string;
  /** The loaded OpenAPI document, if any. */
  openapiDocument?: Record<string, unknown>;
};
export type MeterConfig = z.output<typeof meterSchema>;
export type FeatureConfig = z.output<typeof featureSchema>;
export type PlanConfig = z.output<typeof planSchema>;
export type PhaseConfig = z.output<typeof phaseSchema>;
export type IncludedCreditsConfig = z.output<typeof includedCreditsSchema>;
export type RateCardConfig = z.output<typeof rateCardSchema>;
export type PriceConfig = z.output<typeof priceSchema>;
export type EntitlementConfig = z.output<typeof entitlementSchema>;
export type RateLimitConfig = z.output<typeof rateLimitSchema>;
export type RouteConfig = z.output<typeof routeSchema>;
