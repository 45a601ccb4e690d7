import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Decimal } from '../../util/money.ts';
import { CreditNoteError } from './model.ts';
import { type CreditableInvoice, type PriorCredit, planCreditNote } from './rules.ts';

/**
 * The caps of Stripe's credit notes (stripe-node `cjs/resources/CreditNotes.d.ts`: refunds +
 * customer credit + out-of-band = the credit note's amount; never more than the invoice minus
 * earlier credit notes) and Lago's (`app/services/credit_notes/validate_service.rb`:
 * `valid_refund_amount?`, `valid_global_amount?`).
 */
const invoice = (over: Partial<CreditableInvoice> = {}): CreditableInvoice => ({
  status: 'paid',
  currency: 'USD',
  total: '58.80',
  taxRate: '0.2',
  lines: [{ position: 1, description: 'Pro subscription', amount: '49.00' }],
  ...over,
});
const none: PriorCredit = { creditedTotal: '0', creditedByLine: new Map(), paid: '58.80', refunded: '0' };

function refusal(fn: () => unknown): CreditNoteError {
  try {
    fn();
  } catch (error) {
    if (error instanceof CreditNoteError) return error;
    throw error;
  }
  throw new Error('expected a refusal');
}

describe('planCreditNote', () => {
  it('credits part of a line with the invoice tax rate, refunding by default', () => {
    const plan = planCreditNote(invoice(), none, {
      reason: 'usage_correction',
      lines: [{ invoiceLine: 1, amount: '10.00' }],
    });
    expect(plan).toMatchObject({
      subtotal: '10.00',
      tax: '2.00',
      total: '12.00',
      refundAmount: '12.00',
      creditAmount: '0.00',
      outOfBandAmount: '0.00',
    });
    expect(plan.lines[0]).toMatchObject({ invoiceLinePosition: 1, description: 'Pro subscription' });
  });

  it('splits a total given with tax included', () => {
    const plan = planCreditNote(invoice(), none, {
      reason: 'other',
      amount: '12.00',
      creditAmount: '2.00',
      refundAmount: '10.00',
    });
    expect(plan).toMatchObject({
      subtotal: '10.00',
      tax: '2.00',
      total: '12.00',
      refundAmount: '10.00',
      creditAmount: '2.00',
    });
  });

  it('refunds at most what was paid and puts the rest on the customer balance by default', () => {
    const plan = planCreditNote(invoice(), { ...none, paid: '8.80' }, { reason: 'other', amount: '12.00' });
    expect(plan).toMatchObject({ refundAmount: '8.80', creditAmount: '3.20' });
  });

  it('names the field it refuses', () => {
    expect(
      refusal(() =>
        planCreditNote(invoice(), none, { reason: 'other', lines: [{ invoiceLine: 1, amount: '49.01' }] }),
      ).field,
    ).toBe('lines[0].amount');
    expect(refusal(() => planCreditNote(invoice(), none, { reason: 'other', amount: '58.81' })).field).toBe(
      'amount',
    );
    expect(
      refusal(() =>
        planCreditNote(invoice(), none, {
          reason: 'other',
          amount: '10.00',
          refundAmount: '6.00',
          creditAmount: '5.00',
        }),
      ).field,
    ).toBe('refundAmount');
    expect(refusal(() => planCreditNote(invoice(), none, { reason: 'other', amount: '1.005' })).field).toBe(
      'amount',
    );
    expect(
      refusal(() => planCreditNote(invoice({ status: 'issued' }), none, { reason: 'other', amount: '1.00' }))
        .kind,
    ).toBe('conflict');
  });

  it('property: whatever sequence is asked, credit notes never exceed the invoice and refunds never exceed what was paid', () => {
    const cents = (max: number) => fc.integer({ min: 0, max }).map((c) => new Decimal(c).div(100).toFixed(2));
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 500_000 }),
        fc.integer({ min: 0, max: 100 }),
        fc.array(
          fc.record({
            amount: cents(300_000),
            refund: fc.option(cents(300_000)),
            credit: fc.option(cents(300_000)),
          }),
          {
            maxLength: 12,
          },
        ),
        (totalCents, paidPercent, asks) => {
          const total = new Decimal(totalCents).div(100);
          const paid = total.mul(paidPercent).div(100).toDecimalPlaces(2, Decimal.ROUND_DOWN);
          const inv = invoice({
            total: total.toFixed(2),
            taxRate: null,
            lines: [{ position: 1, description: 'Fee', amount: total.toFixed(2) }],
          });
          let credited = new Decimal(0);
          let refunded = new Decimal(0);
          for (const ask of asks) {
            const prior: PriorCredit = {
              creditedTotal: credited.toFixed(2),
              creditedByLine: new Map(),
              paid: paid.toFixed(2),
              refunded: refunded.toFixed(2),
            };
            const request = {
              reason: 'other' as const,
              amount: ask.amount,
              ...(ask.refund !== null ? { refundAmount: ask.refund } : {}),
              ...(ask.credit !== null ? { creditAmount: ask.credit } : {}),
            };
            let plan: ReturnType<typeof planCreditNote> | null = null;
            try {
              plan = planCreditNote(inv, prior, request);
            } catch (error) {
              if (!(error instanceof CreditNoteError)) throw error;
            }
            if (!plan) continue;
            expect(
              new Decimal(plan.refundAmount).add(plan.creditAmount).add(plan.outOfBandAmount).eq(plan.total),
            ).toBe(true);
            expect(new Decimal(plan.total).eq(ask.amount)).toBe(true);
            credited = credited.add(plan.total);
            refunded = refunded.add(plan.refundAmount);
            expect(credited.lte(total)).toBe(true);
            expect(refunded.lte(paid)).toBe(true);
          }
        },
      ),
      { seed: 42, numRuns: 300 },
    );
  });
});
