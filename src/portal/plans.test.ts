import { describe, expect, it } from 'vitest';
import { testFeatures, testMeters, testPlans } from '../../test/support/catalog.ts';
import { normalizePlan } from '../catalog/normalize.ts';
import { resolveConfig } from '../config/index.ts';
import { forecastOf } from './budget.ts';
import { definitionAsPlan, planView, publicPlans } from './plans.ts';

const config = resolveConfig(
  {
    upstream: 'http://127.0.0.1:1',
    meters: [testMeters.requests, testMeters.tokens],
    features: [
      testFeatures.api_requests,
      { ...testFeatures.small_input_tokens, name: 'tg-small input tokens' },
    ],
    plans: [
      // AI without chat, so its first feature is the token price.
      { ...testPlans.ai, rateCards: testPlans.ai.rateCards.filter((card) => card.key !== 'chat') },
      testPlans.growth,
      {
        key: 'builder',
        name: 'Builder',
        trialDays: 7,
        credits: { amount: '10.00' },
        rateCards: [
          { key: 'base', price: { type: 'flat', amount: '5.00' } },
          { key: 'requests', feature: 'api_requests', price: { type: 'unit', amount: '0.001' } },
        ],
      },
      {
        key: 'scale',
        name: 'Scale',
        phases: [
          { key: 'intro', duration: 'P1M', rateCards: [], credits: { amount: '1.00' } },
          {
            key: 'paid',
            rateCards: [{ key: 'base', price: { type: 'flat', amount: '99.00' } }],
            credits: { amount: '50.00', expiresAfter: { days: 60 } },
          },
        ],
      },
      {
        key: 'hidden',
        name: 'Hidden',
        public: false,
        rateCards: [{ key: 'base', price: { type: 'flat', amount: '1.00' } }],
      },
    ],
  },
  'plans.test.ts',
  '/tmp',
);

describe('pricing view of the catalog', () => {
  it('shows tiny unit prices per 1M units, trials, base prices and overage', () => {
    const [ai, growth] = publicPlans(config);
    expect(publicPlans(config).map((p) => p.key)).toEqual(['ai', 'growth', 'builder', 'scale']);
    expect(ai).toMatchObject({
      free: false,
      basePrice: '0.00',
      trialDays: 14,
      rateLimit: { limit: 300, window: '1m' },
    });
    expect(ai!.features[0]).toMatchObject({
      name: 'tg-small input tokens',
      perMillion: '0.5',
      unlimited: false,
    });
    expect(growth!.basePrice).toBe('20.00');
    expect(growth!.features[0]).toMatchObject({ included: 10_000, soft: true });
    expect(growth!.features[0]!.priceText).toBe('$0.01 each over 10,000');
    expect(growth!.credits).toBeNull();
  });

  it('shows the credits included in the paid phase, from the config and from the published version', () => {
    const plans = new Map(config.plans.map((p) => [p.key, p]));
    for (const published of [false, true]) {
      const view = (key: string) => {
        const plan = plans.get(key)!;
        return planView(config, published ? definitionAsPlan(normalizePlan(plan)) : plan);
      };
      // A trial in front (trialDays) grants nothing; the plan as it runs afterwards does.
      expect(view('builder').credits).toEqual({ amount: '10.00', expiresAfter: 'period' });
      expect(view('scale').credits).toEqual({ amount: '50.00', expiresAfter: { days: 60 } });
      expect(view('ai').credits).toBeNull();
    }
  });
});

describe('end-of-period forecast', () => {
  const from = new Date('2026-03-01T00:00:00Z');
  const to = new Date('2026-03-31T00:00:00Z');
  it('keeps flat lines and extrapolates usage lines linearly over the period', () => {
    const lines = [
      { description: 'Pro', amount: '49.00', kind: 'flat' as const },
      { description: 'Requests', amount: '3.00', kind: 'usage' as const },
    ];
    expect(forecastOf(lines, from, to, new Date('2026-03-11T00:00:00Z')).toFixed(2)).toBe('58.00');
    expect(forecastOf(lines, from, to, from).toFixed(2)).toBe('52.00');
  });
});
