import { describe, expect, it } from 'vitest';
import { ConfigError, resolveConfig } from './load.ts';

/** Price rules checked when the config loads: each names the field and refuses the config. */
const meters = [
  { slug: 'requests', eventType: 'request', aggregation: 'COUNT' },
  { slug: 'payments', eventType: 'payment', aggregation: 'SUM', valueProperty: '$.amount' },
];
const features = [
  { key: 'api_requests', name: 'API requests', meter: 'requests' },
  { key: 'payment_volume', name: 'Payment volume', meter: 'payments' },
];

function configWith(price: unknown, extra: Record<string, unknown> = {}, feature = 'api_requests') {
  return {
    upstream: 'http://127.0.0.1:4010',
    meters,
    features,
    plans: [{ key: 'pro', name: 'Pro', rateCards: [{ key: 'usage', feature, price }] }],
    ...extra,
  };
}

function issues(input: unknown): { path: string; message: string }[] {
  try {
    resolveConfig(input, 'tollgate.config.ts', '/tmp');
  } catch (error) {
    if (error instanceof ConfigError) return error.issues;
    throw error;
  }
  return [];
}

const tiered = {
  type: 'tiered',
  mode: 'graduated',
  tiers: [{ upTo: 100, unitPrice: '0' }, { unitPrice: '0.01' }],
};

describe('price config', () => {
  it('refuses billing.pricing with a tiered price instead of skipping it at billing time', () => {
    const hook = () => '1.00';
    expect(issues(configWith(tiered, { billing: { pricing: hook } }))).toEqual([
      {
        path: 'plans[0].rateCards[0].price',
        message: expect.stringContaining('billing.pricing cannot apply to a tiered price'),
      },
    ]);
    // The same plan without the hook, and the hook with unit prices, are fine.
    expect(issues(configWith(tiered))).toEqual([]);
    expect(issues(configWith({ type: 'unit', amount: '0.01' }, { billing: { pricing: hook } }))).toEqual([]);
  });

  it('accepts included units on unit, package and tiered prices and refuses negative ones', () => {
    expect(issues(configWith({ type: 'unit', amount: '0.01', includedUnits: 100 }))).toEqual([]);
    expect(issues(configWith({ ...tiered, includedUnits: 100 }))).toEqual([]);
    expect(
      issues(configWith({ type: 'package', amount: '5', quantityPerPackage: 100, includedUnits: 100 })),
    ).toEqual([]);
    expect(issues(configWith({ type: 'unit', amount: '0.01', includedUnits: -1 }))).toEqual([
      { path: 'plans[0].rateCards[0].price.includedUnits', message: 'included units cannot be negative' },
    ]);
  });

  it('accepts a take rate on a SUM meter and names what is wrong otherwise', () => {
    const takeRate = { type: 'percentage', rate: '2.9', fixedFee: '0.30' };
    expect(issues(configWith(takeRate, {}, 'payment_volume'))).toEqual([]);
    expect(issues(configWith(takeRate))).toEqual([
      {
        path: 'plans[0].rateCards[0].price',
        message: expect.stringContaining('a percentage price needs a SUM meter'),
      },
    ]);
    expect(issues(configWith({ ...takeRate, rate: '120' }, {}, 'payment_volume'))).toEqual([
      { path: 'plans[0].rateCards[0].price.rate', message: expect.stringContaining('between "0" and "100"') },
    ]);
    expect(
      issues(
        configWith(
          { ...takeRate, minimumPerTransaction: '1.00', maximumPerTransaction: '0.50' },
          {},
          'payment_volume',
        ),
      ),
    ).toEqual([
      {
        path: 'plans[0].rateCards[0].price.maximumPerTransaction',
        message: 'maximumPerTransaction must be at least minimumPerTransaction',
      },
    ]);
  });
});
