import type { ResolvedConfig, TollgateConfigInput } from '../../src/config/index.ts';
import { resolveConfig } from '../../src/config/index.ts';

type MeterInput = NonNullable<TollgateConfigInput['meters']>[number];
type FeatureInput = NonNullable<TollgateConfigInput['features']>[number];
type PlanInput = NonNullable<TollgateConfigInput['plans']>[number];
type RateCardInput = NonNullable<PlanInput['rateCards']>[number];

/** The quickstart's meters: requests counted per route, tokens summed per model and type. */
export const testMeters = {
  requests: { slug: 'requests', eventType: 'request', aggregation: 'COUNT', groupBy: { route: '$.route' } },
  tokens: {
    slug: 'tokens',
    eventType: 'tokens',
    aggregation: 'SUM',
    valueProperty: '$.tokens',
    groupBy: { model: '$.model', type: '$.type' },
  },
} satisfies Record<string, MeterInput>;

/** A feature metered by the `tokens` meter, narrowed to some models or types. */
export function tokensFeature(key: string, name: string, meterGroupByFilters: Record<string, string>) {
  return { key, name, meter: 'tokens', meterGroupByFilters } satisfies FeatureInput;
}

export const testFeatures = {
  api_requests: { key: 'api_requests', name: 'API requests', meter: 'requests' },
  chat: { key: 'chat', name: 'Chat' },
  large_model: { key: 'large_model', name: 'Large model' },
  small_input_tokens: tokensFeature('small_input_tokens', 'Small input tokens', {
    model: 'tg-small',
    type: 'input',
  }),
} satisfies Record<string, FeatureInput>;

/** `limit` requests (`api_requests`) a period; no `limit` is unlimited. */
export function requestsCard(limit?: number, softLimit = false) {
  return {
    key: 'requests',
    feature: 'api_requests',
    entitlement: { type: 'metered', ...(limit === undefined ? {} : { limit }), softLimit },
  } satisfies RateCardInput;
}

/** Access to a feature (a boolean entitlement), e.g. `chat`. */
export function accessCard(feature: string, key = feature) {
  return { key, feature, entitlement: { type: 'boolean' } } satisfies RateCardInput;
}

/** The plans of `testCatalog`, to take one or a few with overrides. */
export const testPlans = {
  free: {
    key: 'free',
    name: 'Free',
    rateLimit: { limit: 100, window: '1m' },
    rateCards: [requestsCard(1000)],
  },
  pro: {
    key: 'pro',
    name: 'Pro',
    rateLimit: { limit: 1000, window: '1m' },
    rateCards: [
      { key: 'base', name: 'Pro subscription', price: { type: 'flat', amount: '49.00' } },
      requestsCard(50_000),
      accessCard('chat'),
    ],
  },
  growth: {
    key: 'growth',
    name: 'Growth',
    rateCards: [
      { key: 'base', name: 'Growth subscription', price: { type: 'flat', amount: '20.00' } },
      {
        ...requestsCard(10_000, true),
        price: {
          type: 'tiered',
          mode: 'graduated',
          tiers: [{ upTo: 10_000, unitPrice: '0' }, { unitPrice: '0.01' }],
        },
      },
    ],
  },
  ai: {
    key: 'ai',
    name: 'AI',
    trialDays: 14,
    rateLimit: { limit: 300, window: '1m' },
    rateCards: [
      accessCard('chat'),
      { key: 'small_input', feature: 'small_input_tokens', price: { type: 'unit', amount: '0.0000005' } },
    ],
  },
  enterprise: {
    key: 'enterprise',
    name: 'Enterprise',
    public: false,
    rateLimit: { limit: 10_000, window: '1m' },
    rateCards: [
      { key: 'base', name: 'Enterprise subscription', price: { type: 'flat', amount: '499.00' } },
      requestsCard(undefined, true),
    ],
  },
} satisfies Record<string, PlanInput>;

/**
 * The quickstart's catalog in small form, with its prices, shared by the billing, entitlement
 * and admin tests:
 * - Free: 1,000 requests (hard), 100/min;
 * - Pro: $49 in advance, 50,000 requests, chat, 1,000/min;
 * - Growth: $20, 10,000 requests then $0.01 each (soft);
 * - AI: 14-day trial, chat, small-model input tokens at $0.50 per 1M, 300/min;
 * - Enterprise (private): $499, unlimited requests (soft), 10,000/min.
 * `overrides` replaces top-level parts (e.g. `billing`, or `plans` built from `testCatalog().plans`).
 */
export function testCatalog(overrides: Partial<TollgateConfigInput> = {}): ResolvedConfig {
  return resolveConfig(
    {
      upstream: 'http://127.0.0.1:1',
      meters: Object.values(testMeters),
      features: Object.values(testFeatures),
      plans: Object.values(testPlans),
      ...overrides,
    },
    'test.config.ts',
    process.cwd(),
  );
}
