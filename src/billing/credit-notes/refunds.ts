import { newId } from '../../util/ids.ts';
import type { Db } from '../model.ts';
import type { PaymentRail } from '../rails/types.ts';
import { PAYMENT_COLUMNS, type PaymentRow } from '../repo.ts';
import { type CreditNoteDb, creditNoteDb } from './tables.ts';

/**
 * The refund a credit note carries: a payment row (purpose `refund`, idempotency key
 * `refund:<credit note id>`) written with the credit note, then sent to the rail that took the
 * invoice's payment after that transaction commits; the rail's answer settles the row.
 */
function selectPayments(db: CreditNoteDb) {
  return db.selectFrom('billing_payments').select(PAYMENT_COLUMNS);
}

/** The newest succeeded charge of the invoice: what a refund goes back through. */
export async function collectedPayment(on: Db, invoiceId: string): Promise<PaymentRow | null> {
  const row = await selectPayments(creditNoteDb(on))
    .where('invoice_id', '=', invoiceId)
    .where('purpose', '=', 'invoice')
    .where('status', '=', 'succeeded')
    .orderBy('created_at', 'desc')
    .limit(1)
    .executeTakeFirst();
  return row ?? null;
}

export async function insertRefundPayment(
  on: Db,
  refund: {
    creditNoteId: string;
    invoiceId: string;
    customerId: string;
    rail: string;
    amount: string;
    currency: string;
    at: Date;
  },
): Promise<PaymentRow> {
  const db = creditNoteDb(on);
  const id = newId('pay');
  await db
    .insertInto('billing_payments')
    .values({
      id,
      invoice_id: refund.invoiceId,
      customer_id: refund.customerId,
      idempotency_key: `refund:${refund.creditNoteId}`,
      purpose: 'refund',
      rail: refund.rail,
      status: 'pending',
      amount: refund.amount,
      currency: refund.currency,
      rail_ref: null,
      failure_code: null,
      failure_message: null,
      created_at: refund.at,
      updated_at: refund.at,
    })
    .execute();
  return (await selectPayments(db).where('id', '=', id).executeTakeFirstOrThrow()) satisfies PaymentRow;
}

/** The rail's answer to a refund: succeeded, pending (settled by its webhook) or failed with why. */
export async function askRail(
  rail: PaymentRail,
  payment: PaymentRow,
  paidWith: PaymentRow,
  onError: (error: unknown) => void,
): Promise<{ status: PaymentRow['status']; railRef: string | null; failure: string | null }> {
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
    return { status: result.status, railRef: result.railRef, failure: null };
  } catch (error) {
    onError(error);
    return { status: 'failed', railRef: null, failure: (error as Error).message };
  }
}

export async function settleRefundPayment(
  on: Db,
  paymentId: string,
  answer: { status: PaymentRow['status']; railRef: string | null; failure: string | null },
  at: Date,
): Promise<PaymentRow> {
  const db = creditNoteDb(on);
  await db
    .updateTable('billing_payments')
    .set((eb) => ({
      status: answer.status,
      rail_ref: eb.fn.coalesce(eb.val(answer.railRef), eb.ref('rail_ref')),
      failure_code: answer.failure ? 'refund_failed' : null,
      failure_message: answer.failure,
      updated_at: at,
    }))
    .where('id', '=', paymentId)
    .execute();
  return selectPayments(db).where('id', '=', paymentId).executeTakeFirstOrThrow();
}

/** Refunds of an invoice, oldest first (its documents list them). */
export async function refundsOf(on: Db, invoiceId: string) {
  return selectPayments(creditNoteDb(on))
    .where('invoice_id', '=', invoiceId)
    .where('purpose', '=', 'refund')
    .orderBy('created_at')
    .execute();
}
