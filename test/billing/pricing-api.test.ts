import { type PriceInvoiceInput, ProblemError, priceInvoice } from 'tollgate';
import { describe, expect, it } from 'vitest';

/**
 * The public pricing API as a user imports it (`tollgate`, the package entry): the same worked
 * examples as the billing run's tests, with no database.
 */
const JAN = { from: '2026-01-01T00:00:00Z', to: '2026-02-01T00:00:00Z' };
const rows = (r: ReturnType<typeof priceInvoice>) => r.lines.map((l) => [l.kind, l.description, l.amount]);

describe("priceInvoice from 'tollgate'", () => {
  it('prices a plan: flat fee, graduated usage with included units, and a coupon on the usage', () => {
    const input: PriceInvoiceInput = {
      currency: 'USD',
      period: JAN,
      rateCards: [
        { key: 'base', name: 'Growth', price: { type: 'flat', amount: '20.00' } },
        {
          key: 'calls',
          name: 'API calls',
          feature: 'api_calls',
          // Lago's graduated example (getlago.com/docs/guide/plans/charges/charge-models/graduated)
          // after 100 included calls: 350 used → 250 billed → $155.
          price: {
            type: 'tiered',
            mode: 'graduated',
            includedUnits: 100,
            tiers: [{ upTo: 100, unitPrice: '1' }, { upTo: 200, unitPrice: '0.50' }, { unitPrice: '0.10' }],
          },
        },
      ],
      usage: { api_calls: 350 },
      discounts: [{ id: 'launch', name: 'Launch', percentOff: '10', rateCardKeys: ['calls'] }],
    };
    const priced = priceInvoice(input);
    expect(rows(priced)).toEqual([
      ['flat', 'Growth', '20.00'],
      ['usage', 'API calls (100 included)', '155.00'],
      ['discount', 'Launch (10% off calls)', '-15.50'],
    ]);
    expect(priced.total).toBe('159.50');
  });

  it("rates transactions for a take rate: Lago's percentage example to the cent", () => {
    const priced = priceInvoice({
      currency: 'USD',
      period: JAN,
      rateCards: [
        {
          key: 'fees',
          name: 'Card fees',
          feature: 'card_volume',
          price: {
            type: 'percentage',
            rate: '1.2',
            fixedFee: '0.10',
            freeTransactions: 3,
            freeAmount: '500',
          },
        },
      ],
      transactions: { card_volume: [{ value: 200 }, { value: 100 }, { value: 100 }, { value: 50 }] },
    });
    expect(priced.total).toBe('0.70');
  });

  it("prorates a calendar plan's first short period (Lago: Aug 10–31 of $50 → $35.48)", () => {
    const priced = priceInvoice({
      currency: 'USD',
      period: { from: '2026-08-10T00:00:00Z', to: '2026-09-01T00:00:00Z' },
      fullPeriod: { from: '2026-08-01T00:00:00Z', to: '2026-09-01T00:00:00Z' },
      rateCards: [{ key: 'base', name: 'Premium', price: { type: 'flat', amount: '50.00' } }],
    });
    expect(priced.total).toBe('35.48');
  });

  it('refuses a bad rate card with a problem naming the field, as the config loader does', () => {
    let error: unknown;
    try {
      priceInvoice({
        currency: 'USD',
        period: JAN,
        rateCards: [{ key: 'x', price: { type: 'unit', amount: 0.1 } }],
      });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ProblemError);
    expect((error as ProblemError).status).toBe(400);
    expect((error as ProblemError).toBody().errors).toEqual([
      { path: 'rateCards[0].price.amount', message: expect.stringContaining('decimal string') },
    ]);
  });
});
