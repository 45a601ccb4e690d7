import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Decimal } from '../../util/money.ts';
import { afterCreditNote, afterVoid, voidRefusal } from './amount-due.ts';
import { CreditNoteError } from './model.ts';
import { type CreditableInvoice, creditNoteType, type PriorCredit, planCreditNote } from './rules.ts';

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
  amountDue: '58.80',
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
      refusal(() => planCreditNote(invoice({ status: 'draft' }), none, { reason: 'other', amount: '1.00' }))
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

/**
 * Pre-payment credit notes: on an open invoice the total first lowers the amount due, never below
 * zero, and only the excess is settled as refund, credit or out of band (stripe-node
 * `types/CreditNotesResource.d.ts`, `create`: "A credit note will first reduce the invoice's
 * `amount_remaining` (and `amount_due`), but not below zero").
 */
describe('pre-payment credit notes', () => {
  const unpaid: PriorCredit = { ...none, paid: '0' };
  const open = (over: Partial<CreditableInvoice> = {}) => invoice({ status: 'issued', ...over });

  it('takes the whole total off the amount due of an open invoice', () => {
    const plan = planCreditNote(open(), unpaid, {
      reason: 'usage_correction',
      lines: [{ invoiceLine: 1, amount: '10.00' }],
    });
    expect(plan).toMatchObject({
      total: '12.00',
      prePaymentAmount: '12.00',
      refundAmount: '0.00',
      creditAmount: '0.00',
      outOfBandAmount: '0.00',
    });
    expect(creditNoteType(plan.prePaymentAmount, plan.total)).toBe('pre_payment');
    expect(
      afterCreditNote({ status: 'issued', currency: 'USD', amountDue: '58.80' }, plan.prePaymentAmount),
    ).toEqual({
      amountDue: '46.80',
      paid: false,
    });
  });

  it('settles only the excess over the amount due (prepaid credits paid part of the invoice)', () => {
    const plan = planCreditNote(open({ amountDue: '8.80' }), unpaid, { reason: 'other', amount: '20.00' });
    expect(plan).toMatchObject({ prePaymentAmount: '8.80', creditAmount: '11.20', refundAmount: '0.00' });
    expect(creditNoteType(plan.prePaymentAmount, plan.total)).toBe('mixed');
    expect(
      afterCreditNote({ status: 'issued', currency: 'USD', amountDue: '8.80' }, plan.prePaymentAmount),
    ).toEqual({
      amountDue: '0.00',
      paid: true,
    });
  });

  it('refuses a refund on an unpaid invoice and a split that does not add up to the excess', () => {
    expect(
      refusal(() =>
        planCreditNote(open(), unpaid, { reason: 'other', amount: '10.00', refundAmount: '10.00' }),
      ).field,
    ).toBe('refundAmount');
    expect(
      refusal(() =>
        planCreditNote(open({ amountDue: '8.80' }), unpaid, {
          reason: 'other',
          amount: '20.00',
          creditAmount: '20.00',
        }),
      ).message,
    ).toContain('11.20');
  });

  it('voids only what can be given back: an open invoice, no refund, no customer credit', () => {
    const note = { status: 'issued', number: 'CN-000001', refundAmount: '0.00', creditAmount: '0.00' };
    expect(voidRefusal(note, { status: 'issued', number: 'INV-1' })).toBeNull();
    expect(voidRefusal(note, { status: 'paid', number: 'INV-1' })).toContain('open');
    expect(voidRefusal({ ...note, status: 'void' }, { status: 'issued', number: 'INV-1' })).toContain(
      'void already',
    );
    expect(voidRefusal({ ...note, refundAmount: '1.00' }, { status: 'paid', number: 'INV-1' })).toContain(
      'refund',
    );
    expect(voidRefusal({ ...note, creditAmount: '1.00' }, { status: 'issued', number: 'INV-1' })).toContain(
      'balance',
    );
  });

  it('property: notes and voids in any order keep the notes within the total and the amount due between 0 and what it was (fast-check, fixed seed)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 500_000 }),
        fc.integer({ min: 0, max: 100 }),
        fc.array(
          fc.oneof(
            fc.record({ issue: fc.integer({ min: 1, max: 600_000 }), credit: fc.boolean() }),
            fc.record({ void: fc.nat({ max: 20 }) }),
          ),
          { maxLength: 20 },
        ),
        (totalCents, creditsPercent, steps) => {
          const total = new Decimal(totalCents).div(100);
          const creditsApplied = total.mul(creditsPercent).div(100).toDecimalPlaces(2, Decimal.ROUND_DOWN);
          const startDue = total.sub(creditsApplied);
          let inv = open({
            total: total.toFixed(2),
            amountDue: startDue.toFixed(2),
            status: startDue.isZero() ? 'paid' : 'issued',
            taxRate: null,
          });
          const notes: { total: Decimal; pre: string; status: string; creditAmount: string }[] = [];
          for (const step of steps) {
            if ('issue' in step) {
              const credited = notes
                .filter((n) => n.status === 'issued')
                .reduce((s, n) => s.add(n.total), new Decimal(0));
              const prior: PriorCredit = { ...unpaid, creditedTotal: credited.toFixed(2) };
              const amount = new Decimal(step.issue).div(100).toFixed(2);
              let plan: ReturnType<typeof planCreditNote> | null = null;
              try {
                plan = planCreditNote(inv, prior, {
                  reason: 'other',
                  amount,
                  ...(step.credit ? {} : { outOfBandAmount: '0.00', creditAmount: '0.00' }),
                });
              } catch (error) {
                if (!(error instanceof CreditNoteError)) throw error;
              }
              if (!plan) continue;
              const change = afterCreditNote(inv, plan.prePaymentAmount);
              inv = { ...inv, amountDue: change.amountDue, status: change.paid ? 'paid' : inv.status };
              notes.push({
                total: new Decimal(plan.total),
                pre: plan.prePaymentAmount,
                status: 'issued',
                creditAmount: plan.creditAmount,
              });
            } else {
              const note = notes[step.void % Math.max(notes.length, 1)];
              if (!note) continue;
              const refusal = voidRefusal(
                { ...note, number: 'CN', refundAmount: '0' },
                { status: inv.status, number: null },
              );
              if (refusal) continue;
              inv = { ...inv, amountDue: afterVoid(inv, note.pre).amountDue };
              note.status = 'void';
            }
            const live = notes.filter((n) => n.status === 'issued');
            const credited = live.reduce((s, n) => s.add(n.total), new Decimal(0));
            const pre = live.reduce((s, n) => s.add(n.pre), new Decimal(0));
            expect(credited.lte(total)).toBe(true);
            expect(new Decimal(inv.amountDue).gte(0)).toBe(true);
            expect(new Decimal(inv.amountDue).eq(startDue.sub(pre))).toBe(true);
            expect(inv.status === 'paid').toBe(new Decimal(inv.amountDue).isZero());
          }
        },
      ),
      { seed: 15, numRuns: 400 },
    );
  });
});
