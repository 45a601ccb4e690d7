import type { ResolvedConfig, TollgateConfigInput } from '../../src/config/index.ts';
import { resolveConfig } from '../../src/config/index.ts';

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
            { key: 'base', name: 'Pro subscription', price: { type: 'flat', amount: '49.00' } },
            { key: 'requests', feature: 'api_requests', entitlement: { type: 'metered', limit: 50_000 } },
            { key: 'chat', feature: 'chat', entitlement: { type: 'boolean' } },
          ],
        },
        {
          key: 'growth',
          name: 'Growth',
          rateCards: [
            { key: 'base', name: 'Growth subscription', price: { type: 'flat', amount: '20.00' } },
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
            { key: 'base', name: 'Enterprise subscription', price: { type: 'flat', amount: '499.00' } },
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
