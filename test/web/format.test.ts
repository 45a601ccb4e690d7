import { describe, expect, it } from 'vitest';
import { minus, money, moneyTotals, period } from '../../web/src/format.ts';

/**
 * Issue 13: the portal showed every currency with two decimals (¥1,000.00, "KWD 1.25") and the
 * admin console added paid totals across currencies as float cents, shown as dollars.
 */
describe('SPA money display', () => {
  it('shows each currency with its own symbol and minor unit', () => {
    expect(money('49', 'USD')).toBe('$49.00');
    expect(money('1000', 'JPY')).toBe('¥1,000');
    expect(money('1.25', 'KWD')).toMatch(/^KWD\s1\.250$/);
    expect(money('1234567.5', 'EUR')).toBe('€1,234,567.50');
  });

  it('keeps the digits a small price has, and never goes through a float', () => {
    expect(money('0.0000025', 'USD')).toBe('$0.0000025');
    // 0.1 + 0.2 as a float would print 0.30000000000000004; the string is formatted as given.
    expect(money('12345678901234567.89', 'USD')).toBe('$12,345,678,901,234,567.89');
    expect(money('-5', 'USD')).toBe('-$5.00');
    expect(money(null)).toBe('—');
  });

  it('shows an amount taken off with a minus sign, but no "−$0.00" for nothing taken', () => {
    // A credit note without tax listed its tax as "−$0.00".
    expect(minus('5.00', 'USD')).toBe('−$5.00');
    expect(minus('0.00', 'USD')).toBe('$0.00');
    expect(minus('0', 'JPY')).toBe('¥0');
  });

  it('totals per currency exactly, never across currencies', () => {
    const totals = moneyTotals([
      { amount: '0.10', currency: 'USD' },
      { amount: '0.20', currency: 'USD' },
      { amount: '1000', currency: 'JPY' },
      { amount: '1.125', currency: 'KWD' },
      { amount: '2.250', currency: 'KWD' },
    ]);
    expect(totals).toEqual([
      { currency: 'JPY', total: '1000' },
      { currency: 'KWD', total: '3.375' },
      { currency: 'USD', total: '0.3' },
    ]);
    expect(totals.map((t) => money(t.total, t.currency))).toEqual([
      '¥1,000',
      expect.stringMatching(/^KWD\s3\.375$/),
      '$0.30',
    ]);
  });
});

describe('SPA billing cadence', () => {
  it('reads ISO 8601 durations with the one parser of src/util/duration.ts', () => {
    expect(period('P1M')).toBe('month');
    expect(period('P1Y')).toBe('year');
    expect(period('P1W')).toBe('week');
    expect(period('P1D')).toBe('day');
    expect(period('P3M')).toBe('P3M');
    expect(period('PT1H')).toBe('PT1H');
    expect(period('not a duration')).toBe('not a duration');
  });
});
