import { isIP } from 'node:net';
import { z } from 'zod';
import { configCouponSchema } from '../billing/discounts/model.ts';
import { parseByteSize } from '../util/bytes.ts';
import { isoDurationMs, parseIsoDuration, parseWindow } from '../util/duration.ts';
import { JSON_PATH_PATTERN } from '../util/jsonpath.ts';
import { Decimal, isMoneyString } from '../util/money.ts';
import type { InboundPolicy, MeteringHook, OutboundPolicy, PricingHook, RateLimitFunction } from './types.ts';

/**
 * The schema of `tollgate.config.ts`. It is the contract with users: every message names the
 * field that is wrong and says what would be right. Shapes follow OpenMeter's catalog
 * (meters → features → plans → phases → rate cards → price + entitlement template).
 */

const slug = z
  .string()
  .regex(/^[a-z0-9][a-z0-9_-]*$/, 'use lowercase letters, digits, "_" and "-" (e.g. "api_requests")');

const MONEY_MESSAGE =
  'money must be a decimal string such as "49.00" (numbers are refused: floats lose cents)';
// A refined string (not z.custom), so the admin API's OpenAPI document can describe it.
export const money = z.string({ error: MONEY_MESSAGE }).refine(isMoneyString, MONEY_MESSAGE);

const isoDuration = z
  .string()
  .refine(
    (v) => parseIsoDuration(v) !== null,
    'must be an ISO 8601 duration such as "P1M", "P14D" or "PT1H"',
  );

const window = z
  .string()
  .refine((v) => parseWindow(v) !== null, 'must be a window such as "1s", "1m", "1h" or "1d"');

const jsonPath = z
  .string()
  .regex(JSON_PATH_PATTERN, 'must be a JSONPath such as "$.tokens" or "$.usage[0].tokens"');

const fn = <T>(what: string) =>
  z.custom<T>((v) => typeof v === 'function', { message: `must be a function (${what})` });

export const meterSchema = z.strictObject({
  slug,
  name: z.string().optional(),
  description: z.string().optional(),
  eventType: z.string().min(1),
  aggregation: z.enum(['SUM', 'COUNT', 'UNIQUE_COUNT', 'AVG', 'MIN', 'MAX', 'LATEST']),
  /** JSONPath into `data` for the value; required for every aggregation but COUNT. */
  valueProperty: jsonPath.optional(),
  /** Dimension name → JSONPath into `data`. */
  groupBy: z.record(z.string().regex(/^[A-Za-z_][\w]*$/), jsonPath).default({}),
  /** Count negative values (refunds, adjustments); otherwise they are skipped like non-numbers. */
  allowNegative: z.boolean().optional(),
  /** Refuse a whole ingest batch (400) when one of its events has no usable value for this meter. */
  strict: z.boolean().optional(),
});

export const featureSchema = z.strictObject({
  key: slug,
  name: z.string(),
  description: z.string().optional(),
  /** Usage of this feature is the meter's value (optionally filtered by group-by values). */
  meter: slug.optional(),
  meterGroupByFilters: z.record(z.string(), z.string()).optional(),
});

const tier = z.strictObject({
  /** Upper bound of the tier (inclusive, in units); omit for the last, unbounded tier. */
  upTo: z.number().int().positive().optional(),
  unitPrice: money.optional(),
  flatPrice: money.optional(),
});

/**
 * Tiers that make sense on their own: increasing bounds, only the last unbounded, each with a
 * price. A schema rule, not a cross-reference, so a contract override's price (admin API) is
 * held to it as the config's is.
 */
function tierRules(p: { tiers: z.output<typeof tier>[] }, ctx: z.RefinementCtx): void {
  const { tiers } = p;
  tiers.forEach((t, i) => {
    const last = i === tiers.length - 1;
    if (!last && t.upTo === undefined)
      ctx.addIssue({
        code: 'custom',
        path: ['tiers', i, 'upTo'],
        message: 'only the last tier may be unbounded',
      });
    const prev = tiers[i - 1]?.upTo;
    if (t.upTo !== undefined && prev !== undefined && t.upTo <= prev)
      ctx.addIssue({ code: 'custom', path: ['tiers', i, 'upTo'], message: 'tiers must increase' });
    if (t.unitPrice === undefined && t.flatPrice === undefined)
      ctx.addIssue({ code: 'custom', path: ['tiers', i], message: 'a tier needs unitPrice or flatPrice' });
  });
  if (tiers[tiers.length - 1]?.upTo !== undefined)
    ctx.addIssue({
      code: 'custom',
      path: ['tiers', tiers.length - 1, 'upTo'],
      message: 'the last tier must be unbounded (omit upTo)',
    });
}

const commitments = {
  minimumAmount: money.optional(),
  maximumAmount: money.optional(),
};

/** Units free each period before the price applies ("the first 100 calls are free"). */
const includedUnits = {
  includedUnits: z.number().nonnegative('included units cannot be negative').optional(),
};

const nonNegativeMoney = money.refine(
  (v) => !isMoneyString(v) || new Decimal(v).gte(0),
  'must be zero or more',
);

const RATE_MESSAGE = 'rate must be a percentage between "0" and "100" as a decimal string, e.g. "2.9"';

/** A take rate (Lago's percentage charge model): a share of each metered transaction's value. */
const percentagePrice = z
  .strictObject({
    type: z.literal('percentage'),
    /** Percent of each transaction's value, as a decimal string: "2.9" is 2.9 %. */
    rate: z
      .string({ error: RATE_MESSAGE })
      .refine((v) => isMoneyString(v) && new Decimal(v).gte(0) && new Decimal(v).lte(100), RATE_MESSAGE),
    /** Added to every transaction past the free allowance. */
    fixedFee: nonNegativeMoney.optional(),
    minimumPerTransaction: nonNegativeMoney.optional(),
    maximumPerTransaction: nonNegativeMoney.optional(),
    /** The first n transactions of each period cost nothing. */
    freeTransactions: z.number().int().positive().optional(),
    /** The first part of each period's transaction volume that costs nothing. */
    freeAmount: nonNegativeMoney.optional(),
    ...commitments,
  })
  .refine(
    (p) =>
      p.minimumPerTransaction === undefined ||
      p.maximumPerTransaction === undefined ||
      new Decimal(p.minimumPerTransaction).lte(p.maximumPerTransaction),
    {
      path: ['maximumPerTransaction'],
      message: 'maximumPerTransaction must be at least minimumPerTransaction',
    },
  );

export const priceSchema = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('flat'),
    amount: money,
    paymentTerm: z.enum(['in_advance', 'in_arrears']).default('in_advance'),
  }),
  z.strictObject({ type: z.literal('unit'), amount: money, ...includedUnits, ...commitments }),
  z
    .strictObject({
      type: z.literal('tiered'),
      mode: z.enum(['graduated', 'volume']),
      tiers: z.array(tier).min(1),
      ...includedUnits,
      ...commitments,
    })
    .superRefine(tierRules),
  z.strictObject({
    type: z.literal('package'),
    amount: money,
    quantityPerPackage: z.number().int().positive(),
    ...includedUnits,
    ...commitments,
  }),
  percentagePrice,
]);

export const entitlementSchema = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('metered'),
    /** Units included per usage period; absent = unlimited (metered for billing only). */
    limit: z.number().int().nonnegative().optional(),
    /** Soft: calls beyond the limit are allowed and billed as overage. Hard: they get 429. */
    softLimit: z.boolean().default(false),
    usagePeriod: isoDuration.default('P1M'),
  }),
  z.strictObject({ type: z.literal('boolean') }),
  z.strictObject({ type: z.literal('static'), config: z.record(z.string(), z.unknown()) }),
]);

export const rateCardSchema = z.strictObject({
  key: slug,
  name: z.string().optional(),
  feature: slug.optional(),
  price: priceSchema.nullable().default(null),
  entitlement: entitlementSchema.optional(),
  /** Prices that depend on a dimension (e.g. model tier) use one rate card per feature. */
});

export const rateLimitSchema = z.strictObject({
  limit: z.number().int().positive(),
  window,
  /** Extra requests allowed in a burst above the steady rate (GCRA tolerance). Default: limit. */
  burst: z.number().int().nonnegative().optional(),
});

/**
 * Prepaid credits a plan includes, granted at the start of every billing period (in the plan's
 * currency) like OpenMeter's recurring grants or Lago's recurring wallet top-ups. By default the
 * period's unused credits expire at its end; `{ days: n }` keeps them n days from the grant.
 */
export const includedCreditsSchema = z.strictObject({
  amount: money.refine(
    (v) => !isMoneyString(v) || new Decimal(v).gt(0),
    'included credits must be more than zero',
  ),
  expiresAfter: z
    .union([z.literal('period'), z.strictObject({ days: z.number().int().positive() })], {
      message: 'use "period" or { days: n }',
    })
    .default('period'),
});

export const phaseSchema = z.strictObject({
  key: slug,
  name: z.string().optional(),
  /** How long the phase lasts; omitted on the last phase (runs until the subscription ends). */
  duration: isoDuration.optional(),
  /** Marks a free trial: the subscription is `trialing` during this phase. */
  trial: z.boolean().default(false),
  rateCards: z.array(rateCardSchema).default([]),
  rateLimit: rateLimitSchema.optional(),
  /** Prepaid credits granted at the start of each billing period of this phase. */
  credits: includedCreditsSchema.optional(),
});

export const planSchema = z
  .strictObject({
    key: slug,
    name: z.string(),
    description: z.string().optional(),
    currency: z
      .string()
      .regex(/^[A-Z]{3}$/, 'must be an ISO 4217 code such as "USD"')
      .default('USD'),
    billingCadence: isoDuration.default('P1M'),
    /**
     * When billing periods start: 'anniversary' (default) on the day the subscription started;
     * `{ dayOfMonth: 1 }` on that day of the month (calendar billing), the first partial period
     * prorated by second. Days 29–31 are refused: not every month has them.
     */
    billingAnchor: z
      .union([
        z.literal('anniversary'),
        z.strictObject({
          dayOfMonth: z
            .number()
            .int('must be a whole day of the month')
            .min(1, 'must be a day from 1 to 28')
            .max(28, 'must be a day from 1 to 28 (not every month has a 29th, 30th or 31st)'),
        }),
      ])
      .optional(),
    /** Shown on the pricing page; private plans are only assigned by an admin (e.g. Enterprise). */
    public: z.boolean().default(true),
    /** Steady request rate for keys on this plan. Phases may override. */
    rateLimit: rateLimitSchema.optional(),
    /** Shorthand for a single phase: rate cards directly on the plan. */
    rateCards: z.array(rateCardSchema).optional(),
    /** With `rateCards`: prepaid credits granted at the start of each billing period. */
    credits: includedCreditsSchema.optional(),
    phases: z.array(phaseSchema).optional(),
    /** A free trial before the first paid phase, e.g. 14 (days). Shorthand for a trial phase. */
    trialDays: z.number().int().positive().optional(),
  })
  .superRefine((plan, ctx) => {
    if (plan.rateCards && plan.phases) {
      ctx.addIssue({
        code: 'custom',
        path: ['phases'],
        message: 'give either "rateCards" or "phases", not both',
      });
    }
    if (!plan.rateCards && !plan.phases) {
      ctx.addIssue({
        code: 'custom',
        path: ['rateCards'],
        message: 'a plan needs "rateCards" (or "phases")',
      });
    }
    if (plan.credits && plan.phases) {
      ctx.addIssue({
        code: 'custom',
        path: ['credits'],
        message: 'a plan with "phases" includes credits per phase: move "credits" into the phases',
      });
    }
    if (typeof plan.billingAnchor === 'object') {
      const cadence = parseIsoDuration(plan.billingCadence);
      const whole = cadence && (cadence.years > 0 || cadence.months > 0);
      const extra =
        cadence && cadence.weeks + cadence.days + cadence.hours + cadence.minutes + cadence.seconds > 0;
      if (!whole || extra) {
        ctx.addIssue({
          code: 'custom',
          path: ['billingAnchor'],
          message: `calendar billing needs a cadence of whole months or years (e.g. "P1M"); got "${plan.billingCadence}"`,
        });
      }
    }
    plan.phases?.forEach((phase, i) => {
      const last = i === (plan.phases?.length ?? 0) - 1;
      if (!last && !phase.duration) {
        ctx.addIssue({
          code: 'custom',
          path: ['phases', i, 'duration'],
          message: 'every phase but the last needs a duration',
        });
      }
    });
  });

const upstreamSchema = z.union([
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

/** A proxy address or CIDR for `console.trustProxy`, e.g. `10.0.0.0/8` or `::1`. */
const proxyAddress = z.string().refine((value) => {
  const [address, bits, extra] = value.split('/');
  const family = isIP(address ?? '');
  if (family === 0 || extra !== undefined) return false;
  if (bits === undefined) return true;
  return /^\d{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128);
}, 'an IP address or CIDR such as "10.0.0.0/8"');

const bytes = z
  .number()
  .int()
  .min(1024)
  .max(1024 * 1024 * 1024);
const timeoutMs = z.number().int().min(100).max(3_600_000);

/** Defaults of `console.limits` (documented in README and SECURITY.md). */
export const CONSOLE_LIMIT_DEFAULTS = {
  bodyBytes: 1024 * 1024,
  bodyBytesByRoute: { '/api/v1/events': 32 * 1024 * 1024 },
  jsonDepth: 64,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 5_000,
};

/** Limits of the console listener: body size per route, JSON depth, slow clients. */
const consoleLimitsSchema = z.strictObject({
  /** Largest request body on any route not listed in bodyBytesByRoute (the JSON APIs). */
  bodyBytes: bytes.default(CONSOLE_LIMIT_DEFAULTS.bodyBytes),
  /** Path prefix → largest body; merged over the default (metering ingest takes 32 MiB). */
  bodyBytesByRoute: z
    .record(z.string().regex(/^\/[\w\-./]*$/, 'a path prefix such as "/api/v1/events"'), bytes)
    .default({})
    .transform((routes) => ({ ...CONSOLE_LIMIT_DEFAULTS.bodyBytesByRoute, ...routes })),
  /** Deepest nesting of objects and arrays accepted in a JSON body. */
  jsonDepth: z.number().int().min(2).max(1000).default(CONSOLE_LIMIT_DEFAULTS.jsonDepth),
  /** Time a client has to send its request headers. */
  headersTimeoutMs: timeoutMs.default(CONSOLE_LIMIT_DEFAULTS.headersTimeoutMs),
  /** Time a client has to send its whole request (headers and body). */
  requestTimeoutMs: timeoutMs.default(CONSOLE_LIMIT_DEFAULTS.requestTimeoutMs),
  /** How long an idle keep-alive connection stays open. */
  keepAliveTimeoutMs: timeoutMs.default(CONSOLE_LIMIT_DEFAULTS.keepAliveTimeoutMs),
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
const gatewayLimitsSchema = z.strictObject({
  /** Largest request body proxied upstream (model-gated routes read at most 1 MiB). */
  bodyBytes: bytes.default(GATEWAY_LIMIT_DEFAULTS.bodyBytes),
  /** Time a client has to send its request headers. */
  headersTimeoutMs: timeoutMs.default(GATEWAY_LIMIT_DEFAULTS.headersTimeoutMs),
  /** Time a client has to send its whole request (headers and body); the response may take longer. */
  requestTimeoutMs: timeoutMs.default(GATEWAY_LIMIT_DEFAULTS.requestTimeoutMs),
  /** How long an idle keep-alive connection stays open. */
  keepAliveTimeoutMs: timeoutMs.default(GATEWAY_LIMIT_DEFAULTS.keepAliveTimeoutMs),
});

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
  billing: z
    .strictObject({
      rail: z
        .union([
          z.literal('sandbox'),
          z.literal('invoice'),
          z.strictObject({
            type: z.literal('stripe'),
            secretKey: z.string().min(1),
            webhookSecret: z.string().min(1),
            /** For tests and proxies: where the Stripe API is. */
            apiBase: z.url().optional(),
          }),
          z.strictObject({
            type: z.literal('paddle'),
            apiKey: z.string().min(1),
            /** The notification destination's secret key (`pdl_ntfset_…`). */
            webhookSecret: z.string().min(1),
            /** For tests and proxies: where the Paddle API is (default: by the key, sandbox or live). */
            apiBase: z.url().optional(),
          }),
          z.strictObject({
            type: z.literal('recurly'),
            /** A private API key of the Recurly site. */
            apiKey: z.string().min(1),
            /** The webhook endpoint's secret key (verifies `recurly-signature`). */
            webhookSecret: z.string().min(1),
            /** The site's subdomain (`acme` for acme.recurly.com): where its hosted pages are. */
            subdomain: z.string().regex(/^[a-z0-9-]+$/, 'the site subdomain, e.g. "acme"'),
            region: z.enum(['us', 'eu']).optional(),
            /** For tests and proxies: where the Recurly API is (default: by region). */
            apiBase: z.url().optional(),
          }),
          z.strictObject({ type: z.literal('sandbox') }),
          z.strictObject({ type: z.literal('invoice'), netDays: z.number().int().positive().default(30) }),
        ])
        .default('sandbox'),
      taxRate: z
        .string()
        .regex(/^\d+(\.\d+)?$/, 'tax rate must be a decimal string such as "0.20"')
        .optional(),
      /** Days after a failed payment before the subscription is suspended. */
      gracePeriodDays: z.number().int().nonnegative().default(7),
      /** Dunning: days after the first failed payment on which it is retried (empty: no retries). */
      retryDays: z
        .array(z.number().int('must be a whole number of days').positive('must be at least 1 day'))
        .superRefine((days, ctx) => {
          days.forEach((day, i) => {
            const before = days[i - 1];
            if (before !== undefined && day <= before) {
              ctx.addIssue({
                code: 'custom',
                path: [i],
                message: `retry days must be strictly increasing (${day} comes after ${before})`,
              });
            }
          });
        })
        .default([1, 3, 5]),
      pricing: fn<PricingHook>('pricing hook').optional(),
      /**
       * Coupon codes reviewed with the code: the admin API's coupon fields. Read from the live
       * config (never copied to the store, nor editable through the API); redemptions are counted
       * in the store. A code may not also be a coupon created through the admin API.
       */
      coupons: z.array(configCouponSchema).default([]),
    })
    .default({ rail: 'sandbox', gracePeriodDays: 7, retryDays: [1, 3, 5], coupons: [] }),
  notifications: z
    .strictObject({
      /**
       * `usage.threshold` webhooks: percentages of a metered entitlement's limit; one event per
       * customer, feature, usage period and threshold. Empty: none.
       */
      usageThresholds: z
        .array(z.number().int('must be a whole percentage').positive('must be more than 0'))
        .superRefine((percents, ctx) => {
          percents.forEach((percent, i) => {
            const before = percents[i - 1];
            if (before !== undefined && percent <= before) {
              ctx.addIssue({
                code: 'custom',
                path: [i],
                message: `thresholds must be strictly increasing (${percent} comes after ${before})`,
              });
            }
          });
        })
        .default([80, 100]),
      /**
       * Hosts (names or IP literals, exact) that webhook and alert URLs may reach although they
       * resolve to loopback, private, link-local or other internal addresses, and over http.
       * Empty (the default): outgoing calls reach public addresses only (src/http/outbound.ts).
       */
      allowHosts: z.array(z.string().min(1, 'must not be empty')).default([]),
    })
    .default({ usageThresholds: [80, 100], allowHosts: [] }),
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
  /**
   * Scale-out backends (used when started with --redis / --nats / a postgres:// database).
   * See deploy/README.md for what each setting means in operation.
   */
  scaleOut: z
    .strictObject({
      /**
       * Redis unreachable: 'open' = each gateway node enforces limits on its own counters
       * (limits hold per node, not across nodes); 'closed' = rate-limited/quota'd requests get 503.
       */
      onRedisError: z.enum(['open', 'closed']).default('open'),
      /**
       * How long one Redis command may take before it counts as Redis being unreachable (and
       * `onRedisError` applies). Raise it on a machine whose Redis answers slowly under load.
       */
      redisCommandTimeoutMs: z.number().int().positive().default(500),
      /** Prefix of every Redis key (several installations can share one Redis). */
      redisKeyPrefix: z.string().min(1).default('tollgate:'),
      /** JetStream stream of usage events, and its subject prefix. */
      usageStream: z
        .string()
        .regex(/^[A-Za-z0-9_-]+$/, 'use letters, digits, "_" and "-" (e.g. "TOLLGATE_USAGE")')
        .default('TOLLGATE_USAGE'),
      usageSubject: z
        .string()
        .regex(/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/, 'must be dot-separated tokens such as "tollgate.usage"')
        .default('tollgate.usage'),
      /**
       * How long a gateway waits for JetStream to acknowledge usage (e.g. during a NATS restart)
       * before answering 503 problem+json with Retry-After (a response already streaming is cut
       * off instead); either way the call is not billed and its quota is given back.
       */
      usageAckTimeoutMs: z.number().int().positive().default(15_000),
      /**
       * Size and retention of the usage stream on each NATS server (applied to an existing stream
       * at start-up). The stream is a buffer in front of metering: see deploy/README.md for the
       * disk budget. `/readyz` warns, and `tollgate_usage_stream_pressure` rises, before the limit.
       */
      usageStreamLimits: z
        .strictObject({
          /**
           * Largest size on disk per replica: bytes, or a size such as "10GiB". Unset: 10 GiB, or
           * less to fit the JetStream store (see src/metering/usage-stream-size.ts).
           */
          maxBytes: z
            .union([z.number(), z.string()])
            .refine(
              (v) => parseByteSize(v) !== null,
              'must be a size such as "10GiB", "500MB" or a number of bytes',
            )
            .optional(),
          /** How long events stay (their replay window): a fixed ISO 8601 duration such as "P7D". */
          maxAge: z
            .string()
            .refine(
              (v) => isoDurationMs(v) !== null,
              'must be a fixed ISO 8601 duration such as "P7D" or "PT12H" (no months or years)',
            )
            .default('P7D'),
          /** At the size limit: 'old' drops the oldest events, 'new' refuses new ones (gateways answer 503). */
          discard: z.enum(['old', 'new']).default('old'),
          /** Share of `maxBytes` at risk (see deploy/README.md) at which /readyz warns. */
          warnAt: z.number().gt(0).lt(1).default(0.8),
        })
        .prefault({}),
      /** PostgreSQL NOTIFY channel of the change feed. */
      changeChannel: z
        .string()
        .regex(/^[a-z_][a-z0-9_]{0,62}$/, 'must be a lowercase SQL identifier such as "tollgate_changes"')
        .default('tollgate_changes'),
    })
    .prefault({}),
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
