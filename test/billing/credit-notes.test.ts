import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SandboxRail } from '../../src/billing/index.ts';
import { Decimal } from '../../src/util/money.ts';
import { billingConfig, type Harness, openHarness } from './harness.ts';

/**
 * Credit notes and refunds on the sandbox rail with 20% tax, through the billing service and a
 * real PGlite store: numbered, with lines, reason and tax; the issued invoice never changes;
 * refunds go through the rail that took the payment; customer credit lands in the credits ledger;
 * a refused credit note names its field and writes nothing.
 */
let h: Harness;
let n = 0;

beforeAll(async () => {
  h = await openHarness({ config: billingConfig({ billing: { rail: 'sandbox', taxRate: '0.20' } }) });
});
afterAll(async () => {
  await h.store.close();
});

const sandbox = () => h.billing.rail as SandboxRail;
const service = () => h.billing.service;

/** A manual invoice of `unitPrice` (+20% tax), charged to a sandbox card and paid. */
async function paidInvoice(unitPrice = '49.00', card = '4242 4242 4242 4242') {
  const customer = await h.customers.create({ name: `CN Org ${++n}`, email: `cn${n}@example.com` });
  await service().attachCard(customer.id, card);
  const issued = await service().createManualInvoice({
    customerId: customer.id,
    currency: 'USD',
    lines: [{ description: 'Pro subscription', unitPrice }],
    issue: true,
  });
  await sandbox().drain();
  return { customer, invoice: await service().mustGet(issued.id) };
}

async function creditNoteCount(): Promise<number> {
  const [row] = await h.store.query<{ n: number }>('select count(*)::int as n from billing_credit_notes');
  return row?.n ?? 0;
}

describe('credit notes', () => {
  it('corrects usage after issue with a numbered credit note, refunded through the rail; the invoice stays as issued', async () => {
    const { customer, invoice } = await paidInvoice();
    expect(invoice).toMatchObject({ status: 'paid', subtotal: '49.00', tax: '9.80', total: '58.80' });
    const note = await service().creditNotes.issue(invoice.id, {
      reason: 'usage_correction',
      memo: 'Requests counted twice on 3 March',
      lines: [{ invoiceLine: 1, amount: '10.00' }],
    });
    expect(note).toMatchObject({
      number: expect.stringMatching(/^CN-\d{6}$/),
      invoiceId: invoice.id,
      invoiceNumber: invoice.number,
      reason: 'usage_correction',
      subtotal: '10.00',
      tax: '2.00',
      total: '12.00',
      refundAmount: '12.00',
      creditAmount: '0.00',
      refund: { status: 'succeeded' },
    });
    expect(note.lines).toEqual([
      {
        position: 1,
        invoiceLinePosition: 1,
        description: 'Pro subscription',
        quantity: null,
        amount: '10.00',
      },
    ]);
    // Immutable: the invoice reads exactly as before.
    expect(await service().mustGet(invoice.id)).toEqual(invoice);
    const refunds = (await service().payments(invoice.id)).filter((p) => p.purpose === 'refund');
    expect(refunds).toHaveLength(1);
    expect(refunds[0]).toMatchObject({ status: 'succeeded', idempotency_key: `refund:${note.id}` });
    expect(new Decimal(refunds[0]!.amount).toFixed(2)).toBe('12.00');
    expect(h.events.filter((e) => e.type === 'credit_note.issued').length).toBeGreaterThan(0);
    const mail = h.mails.find((m) => m.to === customer.email && m.subject.includes(note.number));
    expect(mail?.text).toContain('$12.00');
    expect((await service().creditNotes.list({ customerId: customer.id })).map((c) => c.number)).toEqual([
      note.number,
    ]);
  });

  it('splits a credit note between a refund and customer credit', async () => {
    const { customer, invoice } = await paidInvoice();
    const before = await service().credits.balance(customer.id, 'USD');
    // A credits-only customer at zero is refused by the gateway until the note's credit arrives.
    await service().credits.configure({ customerId: customer.id, currency: 'USD', creditsOnly: true });
    expect(service().credits.accessCheck(customer.id)).toMatchObject({ status: 402 });
    const note = await service().creditNotes.issue(invoice.id, {
      reason: 'product_unsatisfactory',
      amount: '20.00',
      refundAmount: '15.00',
      creditAmount: '5.00',
    });
    expect(note).toMatchObject({
      total: '20.00',
      tax: '3.33',
      subtotal: '16.67',
      refundAmount: '15.00',
      creditAmount: '5.00',
    });
    expect(new Decimal(await service().credits.balance(customer.id, 'USD')).sub(before).toFixed(2)).toBe(
      '5.00',
    );
    expect(service().credits.accessCheck(customer.id)).toBeNull();
  });

  it('refuses what exceeds the invoice or what was paid, naming the field and writing nothing', async () => {
    const { invoice } = await paidInvoice();
    const count = await creditNoteCount();
    await expect(
      service().creditNotes.issue(invoice.id, {
        reason: 'other',
        lines: [{ invoiceLine: 1, amount: '49.01' }],
      }),
    ).rejects.toMatchObject({ status: 400, extensions: { errors: [{ path: 'lines[0].amount' }] } });
    await expect(
      service().creditNotes.issue(invoice.id, { reason: 'other', amount: '58.81' }),
    ).rejects.toMatchObject({
      status: 400,
    });
    await expect(
      service().creditNotes.issue(invoice.id, {
        reason: 'other',
        amount: '10.00',
        refundAmount: '4.00',
        creditAmount: '7.00',
      }),
    ).rejects.toMatchObject({ status: 400, extensions: { errors: [{ path: 'refundAmount' }] } });
    expect(await creditNoteCount()).toBe(count);
    expect((await service().payments(invoice.id)).filter((p) => p.purpose === 'refund')).toHaveLength(0);
    // The refused attempts took no number: the next credit note follows the last one.
    const last = (await service().creditNotes.list({ limit: 1 }))[0]?.number ?? 'CN-000000';
    const next = await service().creditNotes.issue(invoice.id, { reason: 'duplicate', amount: '1.00' });
    expect(Number(next.number.slice(3))).toBe(Number(last.slice(3)) + 1);
  });

  it('takes a credit note on an unpaid invoice off its amount due; a draft takes none (409)', async () => {
    const { invoice } = await paidInvoice('49.00', '4000 0000 0000 0002');
    expect(invoice).toMatchObject({ status: 'issued', total: '58.80', amountDue: '58.80' });
    const note = await service().creditNotes.issue(invoice.id, { reason: 'other', amount: '1.00' });
    expect(note).toMatchObject({ type: 'pre_payment', prePaymentAmount: '1.00', postPaymentAmount: '0.00' });
    const after = await service().mustGet(invoice.id);
    expect({ ...after, amountDue: invoice.amountDue }).toEqual(invoice);
    expect(after.amountDue).toBe('57.80');

    const customer = await h.customers.create({ name: `CN Org ${++n}`, email: `cn${n}@example.com` });
    const draft = await service().createManualInvoice({
      customerId: customer.id,
      currency: 'USD',
      lines: [{ description: 'Work', unitPrice: '10.00' }],
    });
    await expect(
      service().creditNotes.issue(draft.id, { reason: 'other', amount: '1.00' }),
    ).rejects.toMatchObject({ status: 409 });
  });

  it('property: partial refunds in any order never exceed what was paid (fast-check, fixed seed)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 100, max: 20_000 }),
        fc.array(fc.integer({ min: 1, max: 15_000 }), { minLength: 1, maxLength: 5 }),
        async (priceCents, refundCents) => {
          const { invoice } = await paidInvoice(new Decimal(priceCents).div(100).toFixed(2));
          const paid = new Decimal(invoice.total);
          let refunded = new Decimal(0);
          for (const cents of refundCents) {
            const amount = new Decimal(cents).div(100);
            const fits = amount.lte(paid.sub(refunded));
            const attempt = service().refundInvoice(invoice.id, amount.toFixed(2));
            if (fits) {
              const payment = await attempt;
              expect(payment.status).toBe('succeeded');
              refunded = refunded.add(amount);
            } else {
              await expect(attempt).rejects.toMatchObject({ status: 400 });
            }
          }
          const rows = (await service().payments(invoice.id)).filter((p) => p.purpose === 'refund');
          const sum = rows.reduce((s, p) => s.add(p.amount), new Decimal(0));
          expect(sum.eq(refunded)).toBe(true);
          expect(sum.lte(paid)).toBe(true);
          const notes = await service().creditNotes.list({ invoiceId: invoice.id });
          expect(notes.reduce((s, c) => s.add(c.total), new Decimal(0)).eq(refunded)).toBe(true);
        },
      ),
      { seed: 42, numRuns: 12 },
    );
  }, 120_000);
});
