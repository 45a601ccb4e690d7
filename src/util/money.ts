import { Decimal } from 'decimal.js';

/**
 * Money is a decimal string at every edge and a Decimal inside; never a float.
 * Rounding happens once, at the invoice line: half-up to the currency's minor unit.
 */
export { Decimal };

/**
 * decimal.js keeps 20 significant digits by default and rounds anything longer without a word:
 * 100000000 + 0.000000000001 came out as 100000000. Amounts here can be large (a year of
 * usage) and prices small (a token at 0.0000025), so arithmetic keeps 50 digits; rounding to
 * the currency still happens once, at the line. Found by test/security/money-fuzz.test.ts.
 */
Decimal.set({ precision: 50 });

const MONEY_RE = /^-?\d+(\.\d+)?$/;

export function isMoneyString(value: unknown): value is string {
  return typeof value === 'string' && MONEY_RE.test(value);
}

/** ISO 4217 minor units for the currencies whose exponent is not 2. */
const MINOR_UNITS: Record<string, number> = {
  BIF: 0,
  CLP: 0,
  DJF: 0,
  GNF: 0,
  ISK: 0,
  JPY: 0,
  KMF: 0,
  KRW: 0,
  PYG: 0,
  RWF: 0,
  UGX: 0,
  UYI: 0,
  VND: 0,
  VUV: 0,
  XAF: 0,
  XOF: 0,
  XPF: 0,
  BHD: 3,
  IQD: 3,
  JOD: 3,
  KWD: 3,
  LYD: 3,
  OMR: 3,
  TND: 3,
};

export function minorUnits(currency: string): number {
  return MINOR_UNITS[currency.toUpperCase()] ?? 2;
}

/** Rounds half-up (away from zero on .5) to the currency's minor unit. */
export function roundMoney(amount: Decimal.Value, currency: string): Decimal {
  return new Decimal(amount).toDecimalPlaces(minorUnits(currency), Decimal.ROUND_HALF_UP);
}

/** Fixed-point string with exactly the currency's minor digits, e.g. `"49.00"`. */
export function formatMoney(amount: Decimal.Value, currency: string): string {
  return roundMoney(amount, currency).toFixed(minorUnits(currency));
}
