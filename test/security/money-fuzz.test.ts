import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Decimal, formatMoney, isMoneyString, minorUnits, roundMoney } from '../../src/util/money.ts';

/**
 * Issue 12, fuzzing of money values: parse, round and format work on decimal strings only and
 * never drift like floats. Each property is checked against an independent oracle written with
 * BigInt on the digits, never with Number. Fixed seed for the suite; a longer local run:
 * FUZZ_RUNS=10000 npx vitest run test/security
 */
const RUNS = Number(process.env.FUZZ_RUNS ?? 300);
const settings = { seed: 42, numRuns: RUNS };

const CURRENCIES = ['USD', 'EUR', 'JPY', 'KRW', 'KWD', 'BHD', 'CLP', 'GBP'];
const digits = (min: number, max: number) =>
  fc.array(fc.integer({ min: 0, max: 9 }), { minLength: min, maxLength: max }).map((d) => d.join(''));
/** A decimal string as money travels at the edges: optional sign, integer part, optional fraction. */
const moneyString = fc
  .tuple(fc.boolean(), digits(1, 15), fc.option(digits(1, 12), { nil: undefined }))
  .map(([negative, int, frac]) => `${negative ? '-' : ''}${int}${frac === undefined ? '' : `.${frac}`}`);

/** Half-up (ties away from zero) to `places` digits, on the digits themselves. */
function oracleRound(value: string, places: number): string {
  const negative = value.startsWith('-');
  const [int, frac = ''] = value.replace('-', '').split('.');
  const kept = BigInt(`${int}${frac.padEnd(places, '0').slice(0, places)}`);
  const next = Number(frac[places] ?? '0');
  const rounded = next >= 5 ? kept + 1n : kept;
  const text = rounded.toString().padStart(places + 1, '0');
  const whole = places === 0 ? text : `${text.slice(0, -places)}.${text.slice(-places)}`;
  return negative && rounded !== 0n ? `-${whole}` : whole;
}

const scaled = (value: string, places: number) => {
  const negative = value.startsWith('-');
  const [int, frac = ''] = value.replace('-', '').split('.');
  const n = BigInt(`${int}${frac.padEnd(places, '0').slice(0, places)}`);
  return negative ? -n : n;
};

describe('money values (property-based, fixed seed)', () => {
  it('formatMoney rounds half-up to the currency minor unit, exactly as the digits say', () => {
    fc.assert(
      fc.property(moneyString, fc.constantFrom(...CURRENCIES), (value, currency) => {
        const places = minorUnits(currency);
        const formatted = formatMoney(value, currency);
        expect(formatted).toBe(oracleRound(value, places));
        expect(formatted.split('.')[1]?.length ?? 0).toBe(places);
        // Formatting is stable: a formatted amount formats to itself.
        expect(formatMoney(formatted, currency)).toBe(formatted);
        expect(isMoneyString(formatted)).toBe(true);
      }),
      settings,
    );
  });

  it('sums of money strings are exact (no float drift), whatever their count and size', () => {
    fc.assert(
      fc.property(fc.array(moneyString, { minLength: 1, maxLength: 40 }), (values) => {
        const sum = values.reduce((acc, v) => acc.add(v), new Decimal(0));
        const places = 12;
        const exact = values.reduce((acc, v) => acc + scaled(v, places), 0n);
        expect(scaled(sum.toFixed(places), places)).toBe(exact);
      }),
      settings,
    );
    // The classic: 0.1 + 0.2 is 0.3 here, not 0.30000000000000004.
    expect(new Decimal('0.1').add('0.2').toString()).toBe('0.3');
  });

  it('rounding once or twice gives the same line amount', () => {
    fc.assert(
      fc.property(moneyString, fc.constantFrom(...CURRENCIES), (value, currency) => {
        const once = roundMoney(value, currency);
        expect(roundMoney(once, currency).eq(once)).toBe(true);
      }),
      settings,
    );
  });

  it('only plain decimal strings are money: floats spelled as JavaScript prints them are refused', () => {
    fc.assert(
      fc.property(fc.double(), (n) => {
        const text = String(n);
        const plain = /^-?\d+(\.\d+)?$/.test(text);
        expect(isMoneyString(text)).toBe(plain);
        expect(isMoneyString(n)).toBe(false);
      }),
      settings,
    );
    for (const bad of ['1e3', 'NaN', 'Infinity', '-Infinity', '1.', '.5', '1,00', ' 1', '0x10', '']) {
      expect(isMoneyString(bad)).toBe(false);
    }
  });
});
