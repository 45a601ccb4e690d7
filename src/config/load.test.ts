import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, resolveConfig } from './load.ts';

const base = {
  upstream: 'http://127.0.0.1:4010',
  meters: [{ slug: 'requests', eventType: 'request', aggregation: 'COUNT' }],
  features: [{ key: 'api_requests', name: 'API requests', meter: 'requests' }],
  plans: [
    {
      key: 'pro',
      name: 'Pro',
      rateCards: [
        { key: 'base', price: { type: 'flat', amount: '49.00' } },
        { key: 'requests', feature: 'api_requests', entitlement: { type: 'metered', limit: 50000 } },
      ],
    },
  ],
};

function issues(input: unknown): { path: string; message: string }[] {
  try {
    resolveConfig(input, 'tollgate.config.ts', '/tmp');
  } catch (error) {
    if (error instanceof ConfigError) return error.issues;
    throw error;
  }
  return [];
}

describe('config validation', () => {
  it('accepts the seed plans and fills defaults', () => {
    const config = resolveConfig(base, 'tollgate.config.ts', '/tmp');
    expect(config.gateway.port).toBe(8080);
    expect(config.console.port).toBe(8081);
    expect(config.plans[0]?.currency).toBe('USD');
    expect(config.plans[0]?.billingCadence).toBe('P1M');
    expect(config.billing.rail).toBe('sandbox');
  });

  it('refuses money given as a float, naming the field', () => {
    const bad = structuredClone(base) as unknown as { plans: { rateCards: { price?: unknown }[] }[] };
    bad.plans[0]!.rateCards[0]!.price = { type: 'flat', amount: 49.99 };
    expect(issues(bad)).toEqual([
      expect.objectContaining({
        path: 'plans[0].rateCards[0].price.amount',
        message: expect.stringMatching(/decimal string/),
      }),
    ]);
  });

  it('names unknown meters and features', () => {
    const bad = structuredClone(base);
    bad.features[0]!.meter = 'nope';
    const found = issues(bad);
    expect(found).toContainEqual({ path: 'features[0].meter', message: 'unknown meter "nope"' });
  });

  it('names gateway.defaultFeature when it is not a declared feature', () => {
    expect(issues({ ...base, gateway: { defaultFeature: 'api_request' } })).toContainEqual({
      path: 'gateway.defaultFeature',
      message: 'unknown feature "api_request" (declare it in features)',
    });
    expect(issues({ ...base, gateway: { defaultFeature: 'api_requests' } })).toEqual([]);
  });

  it('requires a valueProperty for SUM meters', () => {
    const bad = {
      ...base,
      meters: [{ slug: 'tokens', eventType: 'tokens', aggregation: 'SUM' }],
      features: [],
      plans: [],
    };
    expect(issues(bad)).toContainEqual({
      path: 'meters[0].valueProperty',
      message: 'aggregation SUM needs a valueProperty',
    });
  });

  it('rejects unknown fields instead of ignoring a typo', () => {
    const found = issues({ ...base, upstreem: 'x' });
    expect(found[0]?.message).toMatch(/upstreem/);
  });

  it('checks that tiers increase and end unbounded', () => {
    const bad = structuredClone(base) as unknown as { plans: { rateCards: unknown[] }[] };
    bad.plans[0]!.rateCards[1] = {
      key: 'requests',
      feature: 'api_requests',
      price: {
        type: 'tiered',
        mode: 'graduated',
        tiers: [
          { upTo: 100, unitPrice: '0' },
          { upTo: 50, unitPrice: '1' },
        ],
      },
    };
    const paths = issues(bad).map((i) => i.path);
    expect(paths).toContain('plans[0].rateCards[1].price.tiers[1].upTo');
  });

  it('takes coupons in billing.coupons with the admin API fields, naming the path of each bad one', () => {
    const coupons = [
      { code: 'launch20', percentOff: '20', duration: 'repeating', durationPeriods: 3, maxRedemptions: 100 },
      { code: 'LAUNCH20', percentOff: '10' },
      { code: 'TEN', amountOff: '10.00' },
      { code: 'REQ', percentOff: '5', rateCardKeys: ['requests', 'reqests'] },
      { code: 'BIG', percentOff: 120 },
      { code: 'REP', percentOff: '5', duration: 'repeating' },
    ];
    expect(issues({ ...base, billing: { coupons } })).toEqual([
      { path: 'billing.coupons[2].currency', message: 'a fixed amount needs its currency' },
      {
        path: 'billing.coupons[4].percentOff',
        message: 'Invalid input: expected string, received number',
      },
      {
        path: 'billing.coupons[5].durationPeriods',
        message: 'durationPeriods is required with duration "repeating", and only then',
      },
    ]);
    const valid = coupons.slice(0, 4).map((c, i) => (i === 2 ? { ...c, currency: 'USD' } : c));
    expect(issues({ ...base, billing: { coupons: valid } })).toEqual([
      { path: 'billing.coupons[1].code', message: 'duplicate coupon code "LAUNCH20"' },
      { path: 'billing.coupons[3].rateCardKeys[1]', message: 'no plan has a rate card "reqests"' },
    ]);
    const config = resolveConfig({ ...base, billing: { coupons: [valid[0]] } }, 'tollgate.config.ts', '/tmp');
    expect(config.billing.coupons).toEqual([
      {
        code: 'LAUNCH20',
        percentOff: '20',
        duration: 'repeating',
        durationPeriods: 3,
        maxRedemptions: 100,
        rateCardKeys: [],
        archived: false,
      },
    ]);
  });

  it('loads a TypeScript config file and reports a missing OpenAPI document', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tg-config-'));
    const file = join(dir, 'tollgate.config.ts');
    writeFileSync(file, `export default { upstream: 'http://127.0.0.1:1', openapi: './missing.yaml' };\n`);
    await expect(loadConfig(file)).rejects.toThrow(/openapi: file not found/);
  });

  it('loads the quickstart config', async () => {
    const config = await loadConfig('examples/quickstart/tollgate.config.ts');
    expect(config.plans.map((p) => p.key)).toEqual(['free', 'pro', 'growth', 'ai', 'enterprise']);
    expect(config.openapiDocument).toBeDefined();
  });
});
