import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Decimal } from '../../util/money.ts';
import type { RatedLine } from '../rating.ts';
import { applyDiscounts, type DiscountTerms } from './apply.ts';

const JAN = { from: new Date('2026-01-01T00:00:00Z'), to: new Date('2026-02-01T00:00:00Z') };

function line(rateCardKey: string, amount: string, kind: RatedLine['kind'] = 'usage'): RatedLine {
  return {
    key: `${rateCardKey}:${kind}:0`,
    kind,
    rateCardKey,
    featureKey: null,
    planKey: 'p',
    planVersion: 1,
    description: rateCardKey,
    periodFrom: JAN.from,
    periodTo: JAN.to,
    timing: 'in_arrears',
    quantity: '1',
    unitPrice: null,
    amount,
  };
}

const amounts = (ls: RatedLine[]) => ls.map((l) => [l.description, l.amount]);

describe('discounts on rated lines', () => {
  it('Stripe percent_off: 25 % off a $49 subscription → −$12.25 (its own line)', () => {
    // stripe-node types/Coupons.d.ts: percent_off "the amount to discount the subtotal by".
    const out = applyDiscounts(
      [line('base', '49.00', 'flat')],
      [{ id: 'd1', name: 'Coupon SAVE25', percentOff: '25' }],
      'USD',
      JAN,
    );
    expect(amounts(out)).toEqual([['Coupon SAVE25 (25% off)', '-12.25']]);
    expect(out[0]?.key).toBe('discount:d1');
  });

  it('Lago fixed_amount coupon larger than the invoice: capped, the invoice is not negative', () => {
    // getlago.com/docs/guide/coupons: a coupon amount above the invoice leaves the remainder unused.
    const out = applyDiscounts(
      [line('base', '20.00', 'flat')],
      [{ id: 'd1', name: 'Coupon X', amountOff: '50' }],
      'USD',
      JAN,
    );
    expect(amounts(out)).toEqual([['Coupon X (50.00 USD off)', '-20.00']]);
  });

  it('a discount on chosen rate cards (usage included) leaves the others; the whole-invoice one comes after', () => {
    const lines = [
      line('base', '49.00', 'flat'),
      line('tokens', '30.00'),
      line('tokens', '-5.00', 'maximum_spend'),
    ];
    const discounts: DiscountTerms[] = [
      { id: 'all', name: 'Coupon ALL', amountOff: '10' },
      { id: 'tok', name: 'Coupon TOK', percentOff: '50', rateCardKeys: ['tokens'] },
    ];
    // tokens after its maximum: 25.00 → 50 % = 12.50; then 10 off the remaining 61.50.
    expect(amounts(applyDiscounts(lines, discounts, 'USD', JAN))).toEqual([
      ['Coupon TOK (50% off tokens)', '-12.50'],
      ['Coupon ALL (10.00 USD off)', '-10.00'],
    ]);
  });

  it('rounds each discount half-up at the currency minor unit (JPY: no decimals)', () => {
    const out = applyDiscounts(
      [line('base', '999', 'flat')],
      [{ id: 'd', name: 'C', percentOff: '15' }],
      'JPY',
      JAN,
    );
    expect(amounts(out)).toEqual([['C (15% off)', '-150']]); // 149.85 → 150
  });

  it('property: discounts never make a rate card or the invoice negative, and the total is the sum of lines', () => {
    const cards = ['a', 'b', 'c'];
    const lineArb = fc.record({
      card: fc.constantFrom(...cards),
      cents: fc.integer({ min: -2000, max: 100_000 }),
    });
    const discountArb = fc.record({
      percent: fc.option(fc.integer({ min: 1, max: 100 }), { nil: undefined }),
      cents: fc.integer({ min: 1, max: 50_000 }),
      scope: fc.subarray(cards),
    });
    fc.assert(
      fc.property(
        fc.array(lineArb, { minLength: 1, maxLength: 8 }),
        fc.array(discountArb, { maxLength: 4 }),
        (ls, ds) => {
          const lines = ls.map((l, i) => ({
            ...line(l.card, new Decimal(l.cents).div(100).toFixed(2)),
            key: `l${i}`,
          }));
          const discounts: DiscountTerms[] = ds.map((d, i) => ({
            id: `d${i}`,
            name: `D${i}`,
            ...(d.percent
              ? { percentOff: String(d.percent) }
              : { amountOff: new Decimal(d.cents).div(100).toFixed(2) }),
            rateCardKeys: d.scope,
          }));
          const out = applyDiscounts(lines, discounts, 'USD', JAN);
          const before = lines.reduce((acc, l) => acc.add(l.amount), new Decimal(0));
          const off = out.reduce((acc, l) => acc.add(l.amount), new Decimal(0));
          for (const l of out) {
            expect(new Decimal(l.amount).lt(0)).toBe(true);
            expect(new Decimal(l.amount).decimalPlaces()).toBeLessThanOrEqual(2);
          }
          // Never more off than there was to pay; a positive invoice stays at or above zero.
          expect(off.neg().lte(Decimal.max(before, 0))).toBe(true);
          if (before.gte(0)) expect(before.add(off).gte(0)).toBe(true);
          // Scoped discounts never take more than their cards' positive totals.
          for (const d of discounts.filter((x) => x.rateCardKeys?.length)) {
            const taken = out.find((l) => l.key === `discount:${d.id}`);
            const base = lines
              .filter((l) => d.rateCardKeys?.includes(l.rateCardKey))
              .reduce((acc, l) => acc.add(l.amount), new Decimal(0));
            if (taken) expect(new Decimal(taken.amount).neg().lte(Decimal.max(base, 0))).toBe(true);
          }
        },
      ),
      { seed: 42, numRuns: 400 },
    );
  });
});
