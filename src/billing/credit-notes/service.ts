import { problems } from '../../http/problem.ts';
import { newId } from '../../util/ids.ts';
import { Decimal, minorUnits } from '../../util/money.ts';
import type { BillingDeps } from '../deps.ts';
import { displayMoney } from '../documents/format.ts';
import type { InvoiceAdjustments } from '../documents/pdf.ts';
import { summary } from '../invoices.ts';
import { type Invoice, sqlRows } from '../model.ts';
import { invoiceLines, invoiceRow, PAYMENT_COLUMNS, type PaymentRow, toInvoice } from '../repo.ts';
import { type CreditNote, CreditNoteError, type CreditNoteRequest } from './model.ts';
import {
  creditNoteById,
  insertCreditNote,
  listCreditNotes,
  nextCreditNoteNumber,
  priorCredit,
} from './repo.ts';
import { planCreditNote } from './rules.ts';

/**
 * Issuing credit notes and the refunds they carry. Everything a credit note changes (its number,
 * lines, the refund's payment row, a customer credit) is written in one transaction under the
 * invoice's row lock, so two operators crediting the same invoice at once cannot together pass
 * its caps. The rail is called after that transaction with the refund's own idempotency key
 * (`refund:<credit note id>`); its answer settles the refund row (a failed refund stays on the
 * credit note as failed, and no longer counts against what can be refunded).
 */
export interface CreditNotes {
  issue(invoiceId: string, request: CreditNoteRequest): Promise<CreditNote>;
  /** A refund of (part of) what was paid, as a credit note of that amount (tax included). */
  refund(invoiceId: string, amount?: string): Promise<{ creditNote: CreditNote; payment: PaymentRow }>;
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

export function createCreditNotes(
  deps: Pick<BillingDeps, 'store' | 'db' | 'clock' | 'log' | 'rail' | 'credits' | 'events' | 'mailCustomer'>,
): CreditNotes {
  const { store, db, clock, log, rail, credits, events, mailCustomer } = deps;

  async function lockedInvoice(tx: typeof db, invoiceId: string): Promise<Invoice> {
    const row = await invoiceRow(tx, invoiceId, true);
    if (!row) throw problems.notFound(`No invoice ${invoiceId}.`);
    return toInvoice(row, await invoiceLines(tx, [row.id]), minorUnits(row.currency));
  }

  /** Sends the refund to the rail that took the payment, and records its answer. */
  async function sendRefund(payment: PaymentRow, paidWith: PaymentRow): Promise<PaymentRow> {
    let status: PaymentRow['status'];
    let railRef: string | null;
    let failure: string | null = null;
    try {
      const result =
        paidWith.rail_ref && paidWith.rail !== 'manual'
          ? await rail.refund({
              railRef: paidWith.rail_ref,
              amount: payment.amount,
              currency: payment.currency,
              idempotencyKey: payment.idempotency_key,
            })
          : { railRef: `manual_${payment.id}`, status: 'succeeded' as const };
      status = result.status;
      railRef = result.railRef;
    } catch (error) {
      log.error({ err: error, paymentId: payment.id }, 'refund failed at the rail');
      status = 'failed';
      railRef = null;
      failure = (error as Error).message;
    }
    const [row] = await sqlRows<PaymentRow>(
      db,
      `update billing_payments set status = $2, rail_ref = coalesce($3, rail_ref), failure_code = $4, failure_message = $5, updated_at = $6
       where id = $1 returning ${PAYMENT_COLUMNS}`,
      [payment.id, status, railRef, failure ? 'refund_failed' : null, failure, clock.now()],
    );
    return row as PaymentRow;
  }

  async function issueWithPayment(
    invoiceId: string,
    request: CreditNoteRequest,
  ): Promise<{ creditNote: CreditNote; payment: PaymentRow | null }> {
    const written = await store
      .transaction(async (tx) => {
        const invoice = await lockedInvoice(tx, invoiceId);
        const plan = planCreditNote(invoice, await priorCredit(tx, invoice.id), request);
        const id = newId('cn');
        const number = await nextCreditNoteNumber(tx);
        const now = clock.now();
        let refund: { payment: PaymentRow; paidWith: PaymentRow } | null = null;
        if (new Decimal(plan.refundAmount).gt(0)) {
          const [paidWith] = await sqlRows<PaymentRow>(
            tx,
            `select ${PAYMENT_COLUMNS} from billing_payments where invoice_id = $1 and purpose = 'invoice' and status = 'succeeded'
             order by created_at desc limit 1`,
            [invoice.id],
          );
          if (!paidWith)
            throw new CreditNoteError('refundAmount', 'Nothing was paid through a rail to refund.');
          const [payment] = await sqlRows<PaymentRow>(
            tx,
            `insert into billing_payments (id, invoice_id, customer_id, idempotency_key, purpose, rail, status, amount, currency, created_at, updated_at)
             values ($1, $2, $3, $4, 'refund', $5, 'pending', $6, $7, $8, $8) returning ${PAYMENT_COLUMNS}`,
            [
              newId('pay'),
              invoice.id,
              invoice.customerId,
              `refund:${id}`,
              paidWith.rail,
              plan.refundAmount,
              invoice.currency,
              now,
            ],
          );
          refund = { payment: payment as PaymentRow, paidWith };
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
        return { id, invoice, refund };
      })
      .catch((error: unknown) => {
        throw asProblem(error);
      });
    const payment = written.refund ? await sendRefund(written.refund.payment, written.refund.paidWith) : null;
    const creditNote = (await creditNoteById(db, written.id)) as CreditNote;
    await events.emit('credit_note.issued', { creditNote, invoice: summary(written.invoice) });
    if (payment && payment.status !== 'failed') {
      await events.emit('invoice.refunded', {
        invoice: summary(written.invoice),
        amount: payment.amount,
        creditNote: creditNote.number,
      });
    }
    const money = (v: string) => displayMoney(v, creditNote.currency);
    await mailCustomer(
      creditNote.customerId,
      `Credit note ${creditNote.number} for invoice ${creditNote.invoiceNumber ?? creditNote.invoiceId}`,
      [
        `We issued credit note ${creditNote.number} of ${money(creditNote.total)} for invoice ${creditNote.invoiceNumber ?? creditNote.invoiceId}.`,
        new Decimal(creditNote.refundAmount).gt(0)
          ? `Refunded to your payment method: ${money(creditNote.refundAmount)}.`
          : '',
        new Decimal(creditNote.creditAmount).gt(0)
          ? `Added to your account credit: ${money(creditNote.creditAmount)}.`
          : '',
        new Decimal(creditNote.outOfBandAmount).gt(0)
          ? `Settled separately: ${money(creditNote.outOfBandAmount)}.`
          : '',
        creditNote.memo ? `\n${creditNote.memo}` : '',
      ]
        .filter(Boolean)
        .join('\n'),
    );
    return { creditNote, payment };
  }

  return {
    async issue(invoiceId, request) {
      return (await issueWithPayment(invoiceId, request)).creditNote;
    },
    async refund(invoiceId, amount) {
      let value = amount;
      if (value === undefined) {
        // Everything paid and not refunded yet, within what is left to credit.
        const [invoice, prior] = [await lockedInvoice(db, invoiceId), await priorCredit(db, invoiceId)];
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
    async get(idOrNumber) {
      const note = await creditNoteById(db, idOrNumber);
      if (!note) throw problems.notFound(`No credit note ${idOrNumber}.`);
      return note;
    },
    list: (filter) => listCreditNotes(db, filter),
    async adjustments(invoiceId) {
      const notes = await listCreditNotes(db, { invoiceId });
      const refunds = await sqlRows<{ created_at: Date | string; amount: string; status: string }>(
        db,
        `select created_at, amount::text as amount, status from billing_payments where invoice_id = $1 and purpose = 'refund' order by created_at`,
        [invoiceId],
      );
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
