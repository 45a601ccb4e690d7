import { defineConfig } from 'tollgate';

/**
 * The quickstart: a demo API (see ./upstream.ts) sold with the plans of the seed article.
 * `npm start` runs it; edit this file while it runs and the gateway reloads.
 */
export default defineConfig({
  name: 'Acme Weather & AI API',
  upstream: process.env.QUICKSTART_UPSTREAM ?? 'http://127.0.0.1:4010',
  openapi: './openapi.yaml',

  meters: [
    {
      slug: 'requests',
      name: 'API requests',
      eventType: 'request',
      aggregation: 'COUNT',
      groupBy: { route: '$.route', method: '$.method', status: '$.status', key: '$.key' },
    },
    {
      slug: 'tokens',
      name: 'AI tokens',
      eventType: 'tokens',
      aggregation: 'SUM',
      valueProperty: '$.tokens',
      groupBy: { model: '$.model', type: '$.type', key: '$.key' },
    },
  ],

  features: [
    { key: 'api_requests', name: 'API requests', meter: 'requests' },
    { key: 'chat', name: 'Chat completions' },
    { key: 'large_model', name: 'Large model (tg-large)' },
    {
      key: 'small_input_tokens',
      name: 'tg-small input tokens',
      meter: 'tokens',
      meterGroupByFilters: { model: 'tg-small', type: 'input' },
    },
    {
      key: 'small_output_tokens',
      name: 'tg-small output tokens',
      meter: 'tokens',
      meterGroupByFilters: { model: 'tg-small', type: 'output' },
    },
    {
      key: 'large_input_tokens',
      name: 'tg-large input tokens',
      meter: 'tokens',
      meterGroupByFilters: { model: 'tg-large', type: 'input' },
    },
    {
      key: 'large_output_tokens',
      name: 'tg-large output tokens',
      meter: 'tokens',
      meterGroupByFilters: { model: 'tg-large', type: 'output' },
    },
  ],

  plans: [
    {
      key: 'free',
      name: 'Free',
      description: 'Try the API: 1,000 requests a month.',
      rateLimit: { limit: 100, window: '1m' },
      rateCards: [
        {
          key: 'requests',
          feature: 'api_requests',
          entitlement: { type: 'metered', limit: 1000, usagePeriod: 'P1M' },
        },
      ],
    },
    {
      key: 'pro',
      name: 'Pro',
      description: '50,000 requests a month and chat with the small model.',
      rateLimit: { limit: 1000, window: '1m' },
      rateCards: [
        { key: 'base', name: 'Pro subscription', price: { type: 'flat', amount: '49.00' } },
        {
          key: 'requests',
          feature: 'api_requests',
          entitlement: { type: 'metered', limit: 50_000, usagePeriod: 'P1M' },
        },
        { key: 'chat', feature: 'chat', entitlement: { type: 'boolean' } },
      ],
    },
    {
      key: 'growth',
      name: 'Growth',
      description: '$20 a month for 10,000 calls, then $0.01 per call.',
      rateLimit: { limit: 600, window: '1m' },
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
          entitlement: { type: 'metered', limit: 10_000, softLimit: true, usagePeriod: 'P1M' },
        },
      ],
    },
    {
      key: 'ai',
      name: 'AI pay-as-you-go',
      description: 'Chat with both models, priced per million input and output tokens.',
      trialDays: 14,
      rateLimit: { limit: 300, window: '1m' },
      rateCards: [
        { key: 'chat', feature: 'chat', entitlement: { type: 'boolean' } },
        { key: 'large_model', feature: 'large_model', entitlement: { type: 'boolean' } },
        { key: 'requests', feature: 'api_requests', entitlement: { type: 'metered', softLimit: true } },
        { key: 'small_input', feature: 'small_input_tokens', price: { type: 'unit', amount: '0.0000005' } },
        { key: 'small_output', feature: 'small_output_tokens', price: { type: 'unit', amount: '0.0000015' } },
        { key: 'large_input', feature: 'large_input_tokens', price: { type: 'unit', amount: '0.000005' } },
        { key: 'large_output', feature: 'large_output_tokens', price: { type: 'unit', amount: '0.000015' } },
      ],
    },
    {
      key: 'enterprise',
      name: 'Enterprise',
      description: 'Custom limits, invoiced. Contact sales.',
      public: false,
      rateLimit: { limit: 10_000, window: '1m' },
      rateCards: [
        { key: 'base', name: 'Enterprise subscription', price: { type: 'flat', amount: '499.00' } },
        { key: 'requests', feature: 'api_requests', entitlement: { type: 'metered', softLimit: true } },
        { key: 'chat', feature: 'chat', entitlement: { type: 'boolean' } },
        { key: 'large_model', feature: 'large_model', entitlement: { type: 'boolean' } },
      ],
    },
  ],

  // The seed article's dynamic per-plan rate limit, expressed as a function. Plans already carry
  // their own limits; this shows how a rule of your own overrides them (here: per customer).
  // rateLimit: (ctx) => ({
  //   key: ctx.customer?.id ?? ctx.request.ip,
  //   limit: ctx.subscription?.plan.key === 'pro' ? 1000 : 100,
  //   window: '1m',
  // }),

  portal: { branding: { name: 'Acme API', primaryColor: '#4f46e5' } },
});
