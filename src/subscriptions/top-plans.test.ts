import { describe, expect, it } from 'vitest';
import type { PlanDefinition, PlanVersion } from '../catalog/index.ts';
import { hasUpgrade, highestPublicPrices } from './top-plans.ts';

function plan(key: string, flat: string | null, extra: Partial<PlanDefinition> = {}): PlanDefinition {
  return {
    key,
    name: key,
    currency: 'USD',
    billingCadence: 'P1M',
    public: true,
    phases: [
      {
        key: 'default',
        trial: false,
        rateCards: [
          ...(flat
            ? [
                {
                  key: 'base',
                  price: { type: 'flat' as const, amount: flat, paymentTerm: 'in_advance' as const },
                },
              ]
            : []),
          { key: 'requests', feature: 'api_requests', price: { type: 'unit' as const, amount: '0.01' } },
        ],
      },
    ],
    ...extra,
  } as PlanDefinition;
}

const versions = (...defs: PlanDefinition[]) =>
  defs.map(
    (definition, i) =>
      ({
        id: `v${i}`,
        planKey: definition.key,
        version: 1,
        definition,
        publishedAt: new Date(0),
      }) as PlanVersion,
  );

describe('upgrade links: only where a dearer public plan exists', () => {
  const free = plan('free', null);
  const pro = plan('pro', '29.00');
  const team = plan('team', '99.00');
  const enterprise = plan('enterprise', '499.00', { public: false });
  const highest = highestPublicPrices(versions(free, pro, team));

  it('offers one below the top, not on the top plan nor above it', () => {
    expect(hasUpgrade(free, highest)).toBe(true);
    expect(hasUpgrade(pro, highest)).toBe(true);
    expect(hasUpgrade(team, highest)).toBe(false);
    expect(hasUpgrade(enterprise, highest)).toBe(false);
  });

  it('compares decimal strings as money, and only within a currency and cadence', () => {
    const cheap = plan('cheap', '9.50');
    const dear = plan('dear', '10.00');
    expect(hasUpgrade(cheap, highestPublicPrices(versions(cheap, dear)))).toBe(true);
    const euro = plan('euro', '5000.00', { currency: 'EUR' });
    const yearly = plan('yearly', '900.00', { billingCadence: 'P1Y' });
    const mixed = highestPublicPrices(versions(pro, euro, yearly));
    expect(hasUpgrade(pro, mixed)).toBe(false);
    expect(hasUpgrade(plan('gbp', '1.00', { currency: 'GBP' }), mixed)).toBe(false);
  });
});
