import type { ResolvedConfig, TollgateConfigInput } from '../../src/config/index.ts';
import { resolveConfig } from '../../src/config/index.ts';

/** A small version of the quickstart catalog: Free (hard 1,000), Pro, Growth (soft), AI (trial). */
export function catalogConfig(overrides: Partial<TollgateConfigInput> = {}): ResolvedConfig {
  return resolveConfig(
    {
      upstream: 'http://127.0.0.1:1',
      meters: [
        { slug: 'requests', eventType: 'request', aggregation: 'COUNT', groupBy: { route: '$.route' } },
        {
          slug: 'tokens',
          eventType: 'tokens',
          aggregation: 'SUM',
          valueProperty: '$.tokens',
          groupBy: { model: '$.model', type: '$.type' },
        },
      ],
      features: [
        { key: 'api_requests', name: 'API requests', meter: 'requests' },
        { key: 'chat', name: 'Chat' },
        { key: 'large_model', name: 'Large model' },
        {
          key: 'small_input_tokens',
          name: 'Small input tokens',
          meter: 'tokens',
          meterGroupByFilters: { model: 'tg-small', type: 'input' },
        },
      ],
      plans: [
        {
          key: 'free',
          name: 'Free',
          rateLimit: { limit: 100, window: '1m' },
          rateCards: [
            { key: 'requests', feature: 'api_requests', entitlement: { type: 'metered', limit: 1000 } },
          ],
        },
        {
          key: 'pro',
          name: 'Pro',
          rateLimit: { limit: 1000, window: '1m' },
          rateCards: [
            { key: 'base', price: { type: 'flat', amount: '49.00' } },
            { key: 'requests', feature: 'api_requests', entitlement: { type: 'metered', limit: 50_000 } },
            { key: 'chat', feature: 'chat', entitlement: { type: 'boolean' } },
          ],
        },
        {
          key: 'growth',
          name: 'Growth',
          rateCards: [
            { key: 'base', price: { type: 'flat', amount: '20.00' } },
            {
              key: 'requests',
              feature: 'api_requests',
              price: {
                type: 'tiered',
                mode: 'graduated',
                tiers: [{ upTo: 10_000, unitPrice: '0' }, { unitPrice: '0.01' }],
              },
              entitlement: { type: 'metered', limit: 10_000, softLimit: true },
            },
          ],
        },
        {
          key: 'ai',
          name: 'AI',
          trialDays: 14,
          rateLimit: { limit: 300, window: '1m' },
          rateCards: [
            { key: 'chat', feature: 'chat', entitlement: { type: 'boolean' } },
            {
              key: 'small_input',
              feature: 'small_input_tokens',
              price: { type: 'unit', amount: '0.0000005' },
            },
          ],
        },
        {
          key: 'enterprise',
          name: 'Enterprise',
          public: false,
          rateLimit: { limit: 10_000, window: '1m' },
          rateCards: [
            { key: 'base', price: { type: 'flat', amount: '499.00' } },
            { key: 'requests', feature: 'api_requests', entitlement: { type: 'metered', softLimit: true } },
          ],
        },
      ],
      ...overrides,
    },
    'test.config.ts',
    process.cwd(),
  );
}
