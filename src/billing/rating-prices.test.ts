import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { PriceConfig, RateCardConfig } from '../config/schema.ts';
import { Decimal } from '../util/money.ts';
import { rate } from './rating.ts';
import { priceUsage } from './rating-prices.ts';

const JAN = { from: new Date('2026-01-01T00:00:00Z'), to: new Date('2026-02-01T00:00:00Z') };
const money = (d: Decimal) => d.toFixed(2);

// OpenMeter's graduated tiers test table
// (openmeterio/openmeter openmeter/billing/rating/service/rate/tieredgraduated_test.go):
// ≤5 units: $100 flat; ≤10: $50 flat; ≤15: $5/unit; then $1/unit.
const openMeterFlatTiers: PriceConfig = {
  type: 'tiered',
  mode: 'graduated',
  tiers: [
    { upTo: 5, flatPrice: '100', unitPrice: '0' },
    { upTo: 10, flatPrice: '50' },
    { upTo: 15, unitPrice: '5' },
    { unitPrice: '1' },
  ],
};

function rateOne(price: PriceConfig, quantity: number) {
  const card = { key: 'calls', feature: 'calls', price } as RateCardConfig;
  return rate({
    period: JAN,
    currency: 'USD',
    segments: [{ ...JAN, planKey: 'p', planVersion: 1, rateCards: [card], usage: { calls: quantity } }],
  }).map((l) => [l.kind, l.amount]);
}

describe('graduated tiers: the first tier flat fee at zero usage', () => {
  it('OpenMeter "single period multiple tier usage": 22 units → $100 + $50 + 5 × $5 + 7 × $1 = $182', () => {
    expect(money(priceUsage(openMeterFlatTiers, 22).amount)).toBe('182.00');
  });

  it('OpenMeter "no usage": the first tier flat fee ($100) is charged at quantity 0, later tiers not', () => {
    expect(money(priceUsage(openMeterFlatTiers, 0).amount)).toBe('100.00');
    expect(priceUsage(openMeterFlatTiers, 0).tiers).toEqual([
      { tier: 1, fromUnit: '0', upTo: '5', quantity: '0', unitPrice: '0', flatPrice: '100', amount: '100' },
    ]);
  });

  it('OpenMeter "no usage, minimum price set" ($1,000): $100 flat fee, then a $900 minimum-spend line', () => {
    expect(rateOne({ ...openMeterFlatTiers, minimumAmount: '1000' }, 0)).toEqual([
      ['usage', '100.00'],
      ['minimum_spend', '900.00'],
    ]);
  });

  it('a "$500 platform fee for the first 1,000 units" plan bills $500 for an idle month', () => {
    const platform: PriceConfig = {
      type: 'tiered',
      mode: 'graduated',
      tiers: [{ upTo: 1000, flatPrice: '500' }, { unitPrice: '0.40' }],
    };
    expect(rateOne(platform, 0)).toEqual([['usage', '500.00']]);
    expect(rateOne(platform, 1200)).toEqual([['usage', '580.00']]);
  });

  it('volume tiers at zero usage still cost nothing (Lago volume_service.rb: return 0 if units.zero?)', () => {
    const volume: PriceConfig = { ...openMeterFlatTiers, mode: 'volume' } as PriceConfig;
    expect(money(priceUsage(volume, 0).amount)).toBe('0.00');
  });
});

describe('included units on every usage price', () => {
  it('Lago package with free_units: $5 per 100 units, first 100 free; 201 units → 2 packages = $10', () => {
    // getlago.com/docs/guide/plans/charges/charge-models/package and lago-api
    // app/services/charges/charge_models/package_service.rb (billed_units = units - free_units).
    const price: PriceConfig = { type: 'package', amount: '5', quantityPerPackage: 100, includedUnits: 100 };
    expect(money(priceUsage(price, 201).amount)).toBe('10.00');
    expect(money(priceUsage(price, 100).amount)).toBe('0.00');
    expect(money(priceUsage(price, 101).amount)).toBe('5.00');
  });

  it('unit: the first 100 units are free, then $0.05 each', () => {
    const price: PriceConfig = { type: 'unit', amount: '0.05', includedUnits: 100 };
    expect(money(priceUsage(price, 60).amount)).toBe('0.00');
    expect(money(priceUsage(price, 1100).amount)).toBe('50.00');
  });

  it('graduated: tiers count from the first billed unit (Lago graduated example after 100 free units)', () => {
    // Lago graduated (getlago.com/docs/guide/plans/charges/charge-models/graduated): $1 for units
    // 1–100, $0.50 for 101–200, $0.10 after; 250 billed units → $155. With 100 included, 350 used.
    const price: PriceConfig = {
      type: 'tiered',
      mode: 'graduated',
      includedUnits: 100,
      tiers: [{ upTo: 100, unitPrice: '1' }, { upTo: 200, unitPrice: '0.50' }, { unitPrice: '0.10' }],
    };
    expect(money(priceUsage(price, 350).amount)).toBe('155.00');
  });

  it('volume: the tier is chosen by the billed units (Stripe volume table, 5 included: 11 used → 6 × $6.50)', () => {
    const price: PriceConfig = {
      type: 'tiered',
      mode: 'volume',
      includedUnits: 5,
      tiers: [{ upTo: 5, unitPrice: '7' }, { upTo: 10, unitPrice: '6.5' }, { unitPrice: '6' }],
    };
    expect(money(priceUsage(price, 11).amount)).toBe('39.00');
    expect(money(priceUsage(price, 5).amount)).toBe('0.00');
  });

  it('the invoice line keeps the usage and says how much was included', () => {
    const card = {
      key: 'calls',
      name: 'API calls',
      feature: 'calls',
      price: { type: 'unit', amount: '0.05', includedUnits: 100 },
    } as RateCardConfig;
    const [line] = rate({
      period: JAN,
      currency: 'USD',
      segments: [{ ...JAN, planKey: 'p', planVersion: 1, rateCards: [card], usage: { calls: 1100 } }],
    });
    expect(line).toMatchObject({
      description: 'API calls (100 included)',
      quantity: '1100',
      amount: '50.00',
    });
  });

  it('property: included units price exactly the units above them, and never charge more (but for volume)', () => {
    const tierArb = fc
      .array(fc.integer({ min: 1, max: 500 }), { minLength: 1, maxLength: 4 })
      .map((steps) => {
        let upTo = 0;
        return steps.map((s, i) => {
          upTo += s;
          return {
            ...(i < steps.length - 1 ? { upTo } : {}),
            unitPrice: String((i + 1) * 0.25),
            ...(i === 1 ? { flatPrice: '3' } : {}),
          };
        });
      });
    const priceArb: fc.Arbitrary<PriceConfig> = fc.oneof(
      fc.constant<PriceConfig>({ type: 'unit', amount: '0.37' }),
      fc.constant<PriceConfig>({ type: 'package', amount: '5', quantityPerPackage: 100 }),
      tierArb.map((tiers) => ({ type: 'tiered', mode: 'graduated', tiers }) as PriceConfig),
      tierArb.map((tiers) => ({ type: 'tiered', mode: 'volume', tiers }) as PriceConfig),
    );
    fc.assert(
      fc.property(
        priceArb,
        fc.integer({ min: 0, max: 5000 }),
        fc.integer({ min: 0, max: 5000 }),
        (price, q, inc) => {
          const without = priceUsage(price, q).amount;
          const withIncluded = priceUsage({ ...price, includedUnits: inc } as PriceConfig, q).amount;
          // Same as pricing only the units above the included ones.
          expect(withIncluded.eq(priceUsage(price, Math.max(0, q - inc)).amount)).toBe(true);
          expect(withIncluded.gte(0)).toBe(true);
          // Volume prices are not monotone in usage (fewer units can fall in a tier with a flat fee),
          // so only the others promise that included units never cost more.
          if (!(price.type === 'tiered' && price.mode === 'volume'))
            expect(withIncluded.lte(without)).toBe(true);
        },
      ),
      { seed: 42, numRuns: 300 },
    );
  });

  it('property: graduated charges never fall as usage grows (with included units)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 3000 }), fc.integer({ min: 0, max: 50 }), (q, extra) => {
        const price: PriceConfig = { ...openMeterFlatTiers, includedUnits: 7 } as PriceConfig;
        expect(priceUsage(price, q + extra).amount.gte(priceUsage(price, q).amount)).toBe(true);
        expect(priceUsage(price, q).amount.gte(new Decimal(100))).toBe(true);
      }),
      { seed: 42, numRuns: 200 },
    );
  });
});
