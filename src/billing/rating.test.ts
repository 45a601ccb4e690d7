import { describe, expect, it } from 'vitest';
import type { PriceConfig, RateCardConfig } from '../config/schema.ts';
import { priceUsage, type RatingSegment, rate, sumLines } from './rating.ts';

const JAN = { from: new Date('2026-01-01T00:00:00Z'), to: new Date('2026-02-01T00:00:00Z') };
const money = (d: { toFixed(n: number): string }) => d.toFixed(2);

function card(key: string, price: PriceConfig | null, feature?: string): RateCardConfig {
  return { key, price, ...(feature ? { feature } : {}) } as RateCardConfig;
}

function segment(
  rateCards: RateCardConfig[],
  usage: Record<string, number | string> = {},
  extra: Partial<RatingSegment> = {},
): RatingSegment {
  return { from: JAN.from, to: JAN.to, planKey: 'p', planVersion: 1, rateCards, usage, ...extra };
}

// Stripe "Set up tiered pricing" (docs.stripe.com/subscriptions/pricing-models/tiered-pricing):
// tiers 1–5 at $7, 6–10 at $6.50, 11+ at $6.
const stripeTiers = [{ upTo: 5, unitPrice: '7' }, { upTo: 10, unitPrice: '6.5' }, { unitPrice: '6' }];

// Lago "Volume" charge model (getlago.com/docs/guide/plans/charges/charge-models/volume).
const lagoVolumeTiers = [
  { upTo: 10_000, unitPrice: '0.0010', flatPrice: '10' },
  { upTo: 50_000, unitPrice: '0.0008', flatPrice: '10' },
  { upTo: 100_000, unitPrice: '0.0006', flatPrice: '10' },
  { unitPrice: '0.0004', flatPrice: '10' },
];

// Zuplo/OpenMeter "Pricing models" graduated vs volume example
// (zuplo.com/docs/articles/monetization/pricing-models, OpenMeter's catalog shape).
const openMeterTiers = [
  { upTo: 1000, unitPrice: '0.10' },
  { upTo: 10_000, unitPrice: '0.05' },
  { unitPrice: '0.01' },
];

describe('priceUsage: published worked examples', () => {
  const cases: { name: string; price: PriceConfig; quantity: number; expected: string }[] = [
    // Stripe volume table: 1 → $7, 5 → $35, 6 → $39, 20 → $120, 25 → $150.
    ...[
      [1, '7.00'],
      [5, '35.00'],
      [6, '39.00'],
      [20, '120.00'],
      [25, '150.00'],
    ].map(([q, e]) => ({
      name: `Stripe volume-based: ${q} fonts → $${e}`,
      price: { type: 'tiered', mode: 'volume', tiers: stripeTiers } as PriceConfig,
      quantity: q as number,
      expected: e as string,
    })),
    // Stripe graduated: 5 → $35 (same as volume); 6 → 5×7 + 1×6.5 = $41.50; 25 → 35 + 32.5 + 90 = $157.50.
    ...[
      [5, '35.00'],
      [6, '41.50'],
      [25, '157.50'],
    ].map(([q, e]) => ({
      name: `Stripe graduated: ${q} fonts → $${e}`,
      price: { type: 'tiered', mode: 'graduated', tiers: stripeTiers } as PriceConfig,
      quantity: q as number,
      expected: e as string,
    })),
    {
      name: 'Lago volume: 65,000 API calls → 65,000 × $0.0006 + $10 = $49',
      price: { type: 'tiered', mode: 'volume', tiers: lagoVolumeTiers },
      quantity: 65_000,
      expected: '49.00',
    },
    {
      name: 'Lago graduated: $1 first 100, $0.50 next 100, $0.10 after; 250 calls → $155',
      price: {
        type: 'tiered',
        mode: 'graduated',
        tiers: [{ upTo: 100, unitPrice: '1' }, { upTo: 200, unitPrice: '0.50' }, { unitPrice: '0.10' }],
      },
      quantity: 250,
      expected: '155.00',
    },
    {
      // Lago package: $5 per 100 units, first 100 free: 201 units → $0 + $5 + $5 = $10.
      // Free units are a zero-price first tier in our catalog; the package part rates the 101 billable units.
      name: 'Lago package: $5 per 100 units, 101 billable units (201 − 100 free) → $10',
      price: { type: 'package', amount: '5', quantityPerPackage: 100 },
      quantity: 101,
      expected: '10.00',
    },
    {
      name: 'OpenMeter per-unit: 10,000 tokens at $0.01 → $100',
      price: { type: 'unit', amount: '0.01' },
      quantity: 10_000,
      expected: '100.00',
    },
    {
      name: 'OpenMeter/Zuplo graduated: 15,000 units → $100 + $450 + $50 = $600',
      price: { type: 'tiered', mode: 'graduated', tiers: openMeterTiers },
      quantity: 15_000,
      expected: '600.00',
    },
    {
      name: 'OpenMeter/Zuplo volume: 15,000 units → 15,000 × $0.01 = $150',
      price: { type: 'tiered', mode: 'volume', tiers: openMeterTiers },
      quantity: 15_000,
      expected: '150.00',
    },
    {
      name: 'graduated with a tier flat price: flat charged once usage enters the tier',
      price: {
        type: 'tiered',
        mode: 'graduated',
        tiers: [
          { upTo: 10, unitPrice: '0' },
          { unitPrice: '1', flatPrice: '5' },
        ],
      },
      quantity: 12,
      expected: '7.00',
    },
    {
      name: 'package: exactly one package is one package',
      price: { type: 'package', amount: '1.25', quantityPerPackage: 1_000_000 },
      quantity: 1_000_000,
      expected: '1.25',
    },
    {
      name: 'package: zero usage is zero packages',
      price: { type: 'package', amount: '1.25', quantityPerPackage: 1_000_000 },
      quantity: 0,
      expected: '0.00',
    },
    {
      name: 'volume: zero usage costs nothing (no tier flat)',
      price: { type: 'tiered', mode: 'volume', tiers: lagoVolumeTiers },
      quantity: 0,
      expected: '0.00',
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      expect(money(priceUsage(c.price, c.quantity).amount)).toBe(c.expected);
    });
  }

  it('graduated breakdown lists each tier used, exactly', () => {
    const { tiers } = priceUsage({ type: 'tiered', mode: 'graduated', tiers: stripeTiers }, 12);
    expect(tiers?.map((t) => [t.tier, t.quantity, t.amount])).toEqual([
      [1, '5', '35'],
      [2, '5', '32.5'],
      [3, '2', '12'],
    ]);
  });
});

describe('rate(): lines for a period', () => {
  it('quickstart growth: $20 + 10,000 included calls, then $0.01 each', () => {
    const lines = rate({
      period: JAN,
      currency: 'USD',
      segments: [
        segment(
          [
            card('base', { type: 'flat', amount: '20.00', paymentTerm: 'in_advance' }),
            card(
              'requests',
              {
                type: 'tiered',
                mode: 'graduated',
                tiers: [{ upTo: 10_000, unitPrice: '0' }, { unitPrice: '0.01' }],
              },
              'api_requests',
            ),
          ],
          { api_requests: 12_345 },
        ),
      ],
    });
    expect(lines.map((l) => [l.key, l.amount])).toEqual([
      ['base:flat:0', '20.00'],
      ['requests:usage:0', '23.45'],
    ]);
    expect(lines[1]?.tiers?.map((t) => t.quantity)).toEqual(['10000', '2345']);
    expect(sumLines(lines, 'USD')).toBe('43.45');
  });

  it('rounds once per line, half-up to the minor unit (AI tokens at $0.0000005)', () => {
    // 1,234,567 × 0.0000005 = 0.6172835 → 0.62; 3 × 0.005 = 0.015 → 0.02 (half-up)
    const lines = rate({
      period: JAN,
      currency: 'USD',
      segments: [
        segment(
          [
            card('small_input', { type: 'unit', amount: '0.0000005' }, 'in'),
            card('tiny', { type: 'unit', amount: '0.005' }, 'tiny'),
          ],
          { in: 1_234_567, tiny: 3 },
        ),
      ],
    });
    expect(lines.map((l) => l.amount)).toEqual(['0.62', '0.02']);
  });

  it('uses the currency minor unit (JPY 0 decimals, KWD 3)', () => {
    const cards = [card('u', { type: 'unit', amount: '1.5' }, 'f')];
    expect(rate({ period: JAN, currency: 'JPY', segments: [segment(cards, { f: 3 })] })[0]?.amount).toBe('5');
    expect(rate({ period: JAN, currency: 'KWD', segments: [segment(cards, { f: 3 })] })[0]?.amount).toBe(
      '4.500',
    );
  });

  it('minimum spend tops up and maximum spend caps a usage charge', () => {
    const lines = rate({
      period: JAN,
      currency: 'USD',
      segments: [
        segment(
          [
            card('a', { type: 'unit', amount: '1', minimumAmount: '50' }, 'a'),
            card('b', { type: 'unit', amount: '1', maximumAmount: '100' }, 'b'),
          ],
          { a: 10, b: 250 },
        ),
      ],
    });
    expect(lines.map((l) => [l.kind, l.amount])).toEqual([
      ['usage', '10.00'],
      ['minimum_spend', '40.00'],
      ['usage', '250.00'],
      ['maximum_spend', '-150.00'],
    ]);
    expect(sumLines(lines, 'USD')).toBe('150.00');
  });

  it('flat fee in arrears is prorated by second of the period', () => {
    const mid = new Date('2026-01-16T12:00:00Z'); // 15.5 of 31 days
    const lines = rate({
      period: JAN,
      currency: 'USD',
      segments: [
        segment(
          [card('base', { type: 'flat', amount: '31.00', paymentTerm: 'in_arrears' })],
          {},
          { to: mid },
        ),
      ],
    });
    expect(lines[0]?.amount).toBe('15.50');
  });

  it('trial segments are free, then the paid plan is charged for the remainder', () => {
    const trialEnd = new Date('2026-01-15T00:00:00Z'); // 14 of 31 days used
    const paid = [card('base', { type: 'flat', amount: '31.00', paymentTerm: 'in_advance' })];
    const lines = rate({
      period: JAN,
      currency: 'USD',
      segments: [
        segment(paid, { f: 999 }, { to: trialEnd, trial: true }),
        segment(paid, {}, { from: trialEnd }),
      ],
    });
    expect(lines.map((l) => [l.kind, l.amount])).toEqual([
      ['trial', '0.00'],
      ['proration_charge', '17.00'],
    ]);
  });

  it('mid-period upgrade: credit unused old fee, charge new fee for the remainder (by second)', () => {
    // Pro $49 → Enterprise $499 at 2026-01-11T00:00Z: 21 of 31 days remain.
    const t = new Date('2026-01-11T00:00:00Z');
    const lines = rate({
      period: JAN,
      currency: 'USD',
      segments: [
        segment(
          [card('base', { type: 'flat', amount: '49.00', paymentTerm: 'in_advance' })],
          {},
          { to: t, planKey: 'pro' },
        ),
        segment(
          [card('base', { type: 'flat', amount: '499.00', paymentTerm: 'in_advance' })],
          {},
          {
            from: t,
            planKey: 'enterprise',
          },
        ),
      ],
    });
    // 49 × 21/31 = 33.193548… → 33.19; 499 × 21/31 = 338.032258… → 338.03
    expect(lines.map((l) => [l.kind, l.amount])).toEqual([
      ['flat', '49.00'],
      ['proration_credit', '-33.19'],
      ['proration_charge', '338.03'],
    ]);
    expect(sumLines(lines, 'USD')).toBe('353.84');
  });

  it('usage after an upgrade is rated under the new plan, tiers from zero', () => {
    const t = new Date('2026-01-16T00:00:00Z');
    const graduated: PriceConfig = {
      type: 'tiered',
      mode: 'graduated',
      tiers: [{ upTo: 100, unitPrice: '0' }, { unitPrice: '1' }],
    };
    const lines = rate({
      period: JAN,
      currency: 'USD',
      segments: [
        segment([card('r', graduated, 'req')], { req: 150 }, { to: t }),
        segment(
          [card('r', { type: 'unit', amount: '0.5' }, 'req')],
          { req: 10 },
          { from: t, planVersion: 2 },
        ),
      ],
    });
    expect(lines.map((l) => [l.key, l.amount])).toEqual([
      ['r:usage:0', '50.00'],
      ['r:usage:1', '5.00'],
    ]);
  });

  it('gives the same line keys for the same input (idempotent billing)', () => {
    const input = {
      period: JAN,
      currency: 'USD',
      segments: [segment([card('u', { type: 'unit', amount: '1' }, 'f')], { f: 1 })],
    };
    expect(rate(input).map((l) => l.key)).toEqual(rate(input).map((l) => l.key));
  });
});
