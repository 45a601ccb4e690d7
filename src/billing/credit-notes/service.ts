import { problems } from '../../http/problem.ts';
import { newId } from '../../util/ids.ts';
import { Decimal, minorUnits } from '../../util/money.ts';
import type { BillingDeps } from '../deps.ts';
import type { InvoiceAdjustments } from '../documents/pdf.ts';
import { type Invoices, summary } from '../invoices.ts';
import type { Db, Invoice } from '../model.ts';
import { type InvoiceRow, invoiceLines, invoiceRow, type PaymentRow, toInvoice } from '../repo.ts';
import { afterCreditNote, afterVoid, voidRefusal } from './amount-due.ts';
import { creditNoteMail } from './mail.ts';
import { type CreditNote, CreditNoteError, type CreditNoteRequest } from './model.ts';
import { askRail, collectedPayment, insertRefundPayment, refundsOf, settleRefundPayment } from './refunds.ts';
import {
  creditNoteById,
  insertCreditNote,
  listCreditNotes,
  lockCreditNote,
  markCreditNoteVoid,
  nextCreditNoteNumber,
  pendingCharge,
  priorCredit,
  setAmountDue,
} from './repo.ts';
import { planCreditNote } from './rules.ts';

/**
 * Issuing and voiding credit notes and the refunds they carry. Everything a credit note changes
 * (its number, lines, the refund's payment row, a customer credit, the invoice's amount due, and
 * the events that report it) is written in one transaction under the invoice's row lock, so two
 * operators crediting the same invoice at once cannot together pass its caps, and no event is
 * lost or sent for a change that did not commit. The rail is called after that transaction with
 * the refund's own idempotency key (`refund:<credit note id>`); its answer settles the refund row
 * (a failed refund stays on the credit note as failed and no longer counts against what can be
 * refunded) together with `invoice.refunded`.
 */
export interface CreditNotes {
  issue(invoiceId: string, request: CreditNoteRequest): Promise<CreditNote>;
  /** A refund of (part of) what was paid, as a credit note of that amount (tax included). */
  refund(invoiceId: string, amount?: string): Promise<{ creditNote: CreditNote; payment: PaymentRow }>;
  /** Voids a credit note of an open invoice: its amount due goes back up (409 when it cannot). */
  void(idOrNumber: string): Promise<CreditNote>;
  get(idOrNumber: string): Promise<CreditNote>;
  list(filter: {
    invoiceId?: string;
    customerId?: string;
    limit?: number;
    offset?: number;
  }): Promise<CreditNote[]>;
  /** Credit notes and refunds of an invoice, for its documents. */
  adjustments(invoiceId: string): Promise<InvoiceAdjustments>;
}

/** Domain errors to problem+json, at the edge of the service. */
function asProblem(error: unknown): unknown {
  if (!(error instanceof CreditNoteError)) return error;
  return error.kind === 'conflict'
    ? problems.conflict(error.message)
    : problems.validation(error.message, [{ path: error.field, message: error.message }]);
}

/** What a `credit_note.*` event says about the note (src/notify/event-types.ts). */
const noteEvent = (note: CreditNote) => {
  const { lines: _lines, refund: _refund, ...rest } = note;
  return rest;
};

export function createCreditNotes(
  deps: Pick<BillingDeps, 'store' | 'db' | 'clock' | 'log' | 'rail' | 'credits' | 'events' | 'mailCustomer'>,
  /** An invoice a credit note paid (its amount due reached zero): what follows payment. */
  parts: { invoices?: Pick<Invoices, 'afterPaid'> } = {},
): CreditNotes {
  const { store, db, clock, log, rail, credits, events, mailCustomer } = deps;

  async function loadInvoice(tx: Db, invoiceId: string, lock: boolean) {
    const row = await invoiceRow(tx, invoiceId, lock);
    if (!row) throw problems.notFound(`No invoice ${invoiceId}.`);
    return { row, invoice: toInvoice(row, await invoiceLines(tx, [row.id]), minorUnits(row.currency)) };
  }

  /** A charge in flight has its amount fixed: its amount due cannot move under it. */
  async function refuseWhileCharging(tx: Db, invoice: Invoice): Promise<void> {
    if (invoice.status !== 'issued') return;
    const charging = await pendingCharge(tx, invoice.id);
    if (charging !== null) {
      throw new CreditNoteError(
        'invoice',
        `A charge of ${new Decimal(charging).toFixed(minorUnits(invoice.currency))} ${invoice.currency} for invoice ${invoice.number ?? invoice.id} is with the payment rail; change its amount due once that charge has an answer.`,
        'conflict',
      );
    }
  }

  async function writeCreditNote(tx: Db, invoiceId: string, request: CreditNoteRequest) {
    const { invoice } = await loadInvoice(tx, invoiceId, true);
    await refuseWhileCharging(tx, invoice);
    const plan = planCreditNote(invoice, await priorCredit(tx, invoice.id), request);
    const id = newId('cn');
    const number = await nextCreditNoteNumber(tx);
    const now = clock.now();
    let refund: { payment: PaymentRow; paidWith: PaymentRow } | null = null;
    if (new Decimal(plan.refundAmount).gt(0)) {
      const paidWith = await collectedPayment(tx, invoice.id);
      if (!paidWith) throw new CreditNoteError('refundAmount', 'Nothing was paid through a rail to refund.');
      const payment = await insertRefundPayment(tx, {
        creditNoteId: id,
        invoiceId: invoice.id,
        customerId: invoice.customerId,
        rail: paidWith.rail,
        amount: plan.refundAmount,
        currency: invoice.currency,
        at: now,
      });
      refund = { payment, paidWith };
    }
    await insertCreditNote(
      tx,
      {
        id,
        number,
        invoiceId: invoice.id,
        customerId: invoice.customerId,
        currency: invoice.currency,
        reason: request.reason,
        memo: request.memo ?? null,
        refundPaymentId: refund?.payment.id ?? null,
        issuedAt: now,
      },
      plan,
    );
    if (new Decimal(plan.creditAmount).gt(0)) {
      await credits.grant({
        customerId: invoice.customerId,
        currency: invoice.currency,
        amount: plan.creditAmount,
        note: `Credit note ${number} (invoice ${invoice.number ?? invoice.id})`,
        idempotencyKey: `credit-note:${id}`,
        db: tx,
      });
    }
    let paid: InvoiceRow | null = null;
    if (new Decimal(plan.prePaymentAmount).gt(0)) {
      const change = afterCreditNote(invoice, plan.prePaymentAmount);
      await setAmountDue(tx, invoice.id, change, now);
      if (change.paid) paid = (await loadInvoice(tx, invoice.id, false)).row;
    }
    const after = (await loadInvoice(tx, invoice.id, false)).invoice;
    const creditNote = (await creditNoteById(tx, id)) as CreditNote;
    await events.enqueue(tx, 'credit_note.issued', {
      creditNote: noteEvent(creditNote),
      invoice: summary(after),
    });
    if (paid) await events.enqueue(tx, 'invoice.paid', { invoice: summary(after) });
    return { id, invoice: after, refund, paid, credited: new Decimal(plan.creditAmount).gt(0) };
  }

  /** Sends the refund to the rail that took the payment, and records its answer with its event. */
  async function sendRefund(
    invoice: Invoice,
    creditNoteNumber: string,
    refund: { payment: PaymentRow; paidWith: PaymentRow },
  ): Promise<PaymentRow> {
    const answer = await askRail(rail, refund.payment, refund.paidWith, (error) =>
      log.error({ err: error, paymentId: refund.payment.id }, 'refund failed at the rail'),
    );
    return store.transaction(async (tx) => {
      const settled = await settleRefundPayment(tx, refund.payment.id, answer, clock.now());
      if (settled.status !== 'failed') {
        await events.enqueue(tx, 'invoice.refunded', {
          invoice: summary(invoice),
          amount: settled.amount,
          creditNote: creditNoteNumber,
        });
      }
      return settled;
    });
  }

  async function issueWithPayment(
    invoiceId: string,
    request: CreditNoteRequest,
  ): Promise<{ creditNote: CreditNote; payment: PaymentRow | null }> {
    const written = await store
      .transaction((tx) => writeCreditNote(tx, invoiceId, request))
      .catch((error: unknown) => {
        throw asProblem(error);
      });
    const number = ((await creditNoteById(db, written.id)) as CreditNote).number;
    // Customer credit was granted in the transaction: the gateway's credits-only check sees it now.
    if (written.credited) await credits.committed(written.invoice.customerId);
    const payment = written.refund ? await sendRefund(written.invoice, number, written.refund) : null;
    if (written.paid) await parts.invoices?.afterPaid(written.paid);
    const creditNote = (await creditNoteById(db, written.id)) as CreditNote;
    const mail = creditNoteMail(creditNote);
    await mailCustomer(creditNote.customerId, mail.subject, mail.text);
    return { creditNote, payment };
  }

  async function voidNote(idOrNumber: string): Promise<CreditNote> {
    const id = await store
      .transaction(async (tx) => {
        const locked = await lockCreditNote(tx, idOrNumber);
        if (!locked) throw problems.notFound(`No credit note ${idOrNumber}.`);
        const { invoice } = await loadInvoice(tx, locked.invoiceId, true);
        const note = (await creditNoteById(tx, locked.id)) as CreditNote;
        const refused = voidRefusal(note, invoice);
        if (refused) throw new CreditNoteError('creditNote', refused, 'conflict');
        await refuseWhileCharging(tx, invoice);
        const now = clock.now();
        await markCreditNoteVoid(tx, note.id, now);
        if (new Decimal(note.prePaymentAmount).gt(0)) {
          await setAmountDue(tx, invoice.id, afterVoid(invoice, note.prePaymentAmount), now);
        }
        const after = (await loadInvoice(tx, invoice.id, false)).invoice;
        const voided = (await creditNoteById(tx, note.id)) as CreditNote;
        await events.enqueue(tx, 'credit_note.voided', {
          creditNote: noteEvent(voided),
          invoice: summary(after),
        });
        return note.id;
      })
      .catch((error: unknown) => {
        throw asProblem(error);
      });
    return (await creditNoteById(db, id)) as CreditNote;
  }

  return {
    async issue(invoiceId, request) {
      return (await issueWithPayment(invoiceId, request)).creditNote;
    },
    async refund(invoiceId, amount) {
      let value = amount;
      if (value === undefined) {
        // Everything paid and not refunded yet, within what is left to credit.
        const [{ invoice }, prior] = [
          await loadInvoice(db, invoiceId, false),
          await priorCredit(db, invoiceId),
        ];
        const left = Decimal.min(
          new Decimal(prior.paid).sub(prior.refunded),
          new Decimal(invoice.total).sub(prior.creditedTotal),
        );
        if (left.lte(0)) {
          throw problems.conflict(
            new Decimal(prior.paid).isZero()
              ? 'This invoice was paid by credits alone; grant credits instead of refunding.'
              : 'Everything paid for this invoice has been refunded or credited already.',
          );
        }
        value = left.toFixed(minorUnits(invoice.currency));
      }
      const { creditNote, payment } = await issueWithPayment(invoiceId, {
        reason: 'other',
        memo: 'Refund',
        amount: value,
        refundAmount: value,
      });
      return { creditNote, payment: payment as PaymentRow };
    },
    void: voidNote,
    async get(idOrNumber) {
      const note = await creditNoteById(db, idOrNumber);
      if (!note) throw problems.notFound(`No credit note ${idOrNumber}.`);
      return note;
    },
    list: (filter) => listCreditNotes(db, filter),
    async adjustments(invoiceId) {
      const notes = await listCreditNotes(db, { invoiceId });
      const refunds = await refundsOf(db, invoiceId);
      return {
        creditNotes: notes.map((n) => ({
          number: n.number,
          issuedAt: n.issuedAt,
          reason: n.memo ?? n.reason.replace(/_/g, ' '),
          total: n.total,
          status: n.status,
        })),
        refunds: refunds.map((r) => ({
          createdAt: new Date(r.created_at).toISOString(),
          amount: r.amount,
          status: r.status,
        })),
      };
    },
  };
}
