import { newId } from '../util/ids.ts';
import { Decimal } from '../util/money.ts';
import type { Checkout } from './checkout.ts';
import type { BillingDeps } from './deps.ts';
import type { Dunning } from './dunning.ts';
import type { Invoices } from './invoices.ts';
import type { RailCustomers } from './rail-customers.ts';
import { createRailEvents } from './rail-events.ts';
import { type InvoiceRow, invoiceRow, PAYMENT_COLUMNS, type PaymentRow, selectPayments } from './repo.ts';
import { billingDb } from './tables.ts';

/**
 * Charging invoices through the rail and what the charge comes to (paid, declined, waiting on
 * the customer). A charge attempt is recorded (with its idempotency key) before the rail is
 * called; a confirmation settles it whenever it arrives, once (rail-events.ts).
 */

/** Dunning code of an invoice whose charge waits on the customer's payment link. */
const PAYMENT_REQUIRED = 'payment_required';

export type Payments = ReturnType<typeof createPayments>;

export function createPayments(
  deps: Pick<BillingDeps, 'store' | 'db' | 'clock' | 'log' | 'rail' | 'credits' | 'events'>,
  parts: {
    invoices: Pick<Invoices, 'issueIn' | 'afterIssue' | 'settlePaid' | 'enqueuePaid' | 'afterPaid'>;
    railCustomers: Pick<RailCustomers, 'ensureRailCustomer' | 'savePaymentMethod'>;
    dunning: Pick<Dunning, 'enterDunning'>;
    checkout: Pick<Checkout, 'undoCheckout' | 'afterPaymentMethod'>;
  },
) {
  const { store, db, clock, rail, credits, events } = deps;
  const { issueIn, afterIssue, settlePaid } = parts.invoices;
  const { ensureRailCustomer } = parts.railCustomers;
  const { enterDunning } = parts.dunning;
  const { undoCheckout } = parts.checkout;

  /** After a crash: an issued invoice whose first charge never reached the rail is charged now. */
  async function resumeCollection(row: InvoiceRow): Promise<void> {
    if (row.status === 'draft') {
      await store.transaction((tx) => issueIn(tx, row.id));
      await afterIssue(row.id);
      return;
    }
    if (row.status !== 'issued' || rail.collection !== 'automatic') return;
    if (row.payment_attempts === 0) {
      await collect(row.id);
      return;
    }
    const pending = await selectPayments(db)
      .where('invoice_id', '=', row.id)
      .where('status', '=', 'pending')
      .where('rail_ref', 'is', null)
      .execute();
    for (const p of pending) {
      await sendCharge(
        { id: row.id, customerId: row.customer_id, number: row.number, currency: row.currency },
        p,
      );
    }
  }

  /**
   * Starts a charge attempt for an issued invoice (first charge or a dunning retry). An invoice
   * whose charge waits on the customer's payment link (Paddle) gets no second charge (paying the
   * first link must still count): the attempt re-sends that link.
   */
  async function collect(invoiceId: string): Promise<PaymentRow | null> {
    const payment = await store.transaction(async (tx) => {
      const row = await invoiceRow(tx, invoiceId, true);
      if (row?.status !== 'issued' || new Decimal(row.amount_due).lte(0)) return null;
      const attempt = row.payment_attempts + 1;
      const counted = () =>
        billingDb(tx)
          .updateTable('billing_invoices')
          .set({ payment_attempts: attempt, next_payment_attempt_at: null })
          .where('id', '=', row.id)
          .execute();
      if (row.payment_url) {
        const waiting = await selectPayments(tx)
          .where('invoice_id', '=', row.id)
          .where('purpose', '=', 'invoice')
          .where('status', '=', 'pending')
          .orderBy('created_at', 'desc')
          .limit(1)
          .executeTakeFirst();
        if (waiting) {
          await counted();
          return { row: { ...row, payment_attempts: attempt }, payment: waiting, link: row.payment_url };
        }
      }
      const now = clock.now();
      const p = await billingDb(tx)
        .insertInto('billing_payments')
        .values({
          id: newId('pay'),
          invoice_id: row.id,
          customer_id: row.customer_id,
          idempotency_key: `inv:${row.id}:attempt:${attempt}`,
          purpose: 'invoice',
          rail: rail.name,
          status: 'pending',
          amount: row.amount_due,
          currency: row.currency,
          created_at: now,
          updated_at: now,
        })
        .onConflict((oc) => oc.column('idempotency_key').doNothing())
        .returning(PAYMENT_COLUMNS)
        .executeTakeFirst();
      await counted();
      return p ? { row, payment: p, link: null } : null;
    });
    if (!payment) return null;
    const { row } = payment;
    if (payment.link) {
      await enterDunning(row, PAYMENT_REQUIRED, 'the invoice is not paid yet', payment.link);
      return payment.payment;
    }
    return sendCharge(
      { id: row.id, customerId: row.customer_id, number: row.number, currency: row.currency },
      payment.payment,
    );
  }

  async function sendCharge(
    invoice: { id: string; customerId: string; number: string | null; currency: string },
    payment: PaymentRow,
  ): Promise<PaymentRow> {
    const customer = await ensureRailCustomer(invoice.customerId);
    const result = await rail.chargeInvoice({
      reference: invoice.id,
      railCustomerId: customer.rail_customer_id,
      paymentMethodId: customer.payment_method_id,
      amount: payment.amount,
      currency: invoice.currency,
      description: `Invoice ${invoice.number ?? invoice.id}`,
      idempotencyKey: payment.idempotency_key,
      metadata: { invoiceId: invoice.id, paymentId: payment.id },
    });
    // A pending charge gets its rail reference with its confirmation (matched by idempotency key).
    if (result.status !== 'pending' || !rail.confirmsByIdempotencyKey) {
      await billingDb(db)
        .updateTable('billing_payments')
        .set((eb) => ({
          rail_ref: eb.fn.coalesce(eb.val(result.railRef), 'rail_ref'),
          updated_at: clock.now(),
        }))
        .where('id', '=', payment.id)
        .execute();
    }
    if (result.status === 'succeeded') await paymentSucceeded(payment.id);
    else if (result.status === 'failed') {
      await paymentFailed(
        payment.id,
        result.failureCode ?? 'failed',
        result.failureMessage ?? 'Payment failed',
      );
    } else if (result.actionUrl) await awaitCustomer(invoice.id, result.actionUrl);
    return payment;
  }

  /**
   * The rail could not collect by itself and answered with a link where the customer pays
   * (Paddle renewals). The invoice is due now and unpaid: it enters dunning as a declined charge
   * would (past due, reminders with the link on the retry days, suspension after the grace
   * period), while the charge stays pending, so paying through the link settles it whenever.
   */
  async function awaitCustomer(invoiceId: string, url: string): Promise<void> {
    const row = await billingDb(db)
      .updateTable('billing_invoices')
      .set({ payment_url: url })
      .where('id', '=', invoiceId)
      .where('status', '=', 'issued')
      .returning('id')
      .executeTakeFirst();
    const fresh = row ? await invoiceRow(db, row.id) : null;
    // Paid already (the webhook can beat the rail's answer): nothing is owed.
    if (fresh?.status === 'issued')
      await enterDunning(fresh, PAYMENT_REQUIRED, 'the invoice is not paid yet', url);
  }

  async function paymentById(id: string): Promise<PaymentRow | null> {
    return (await selectPayments(db).where('id', '=', id).executeTakeFirst()) ?? null;
  }

  async function paymentSucceeded(paymentId: string): Promise<void> {
    // A top-up's payment, its credits and `credits.topped_up` commit together or not at all.
    const payment = await store.transaction(async (tx) => {
      const updated = await billingDb(tx)
        .updateTable('billing_payments')
        .set({ status: 'succeeded', updated_at: clock.now() })
        .where('id', '=', paymentId)
        .where('status', '=', 'pending')
        .returning(PAYMENT_COLUMNS)
        .executeTakeFirst();
      if (updated?.purpose !== 'topup') return updated;
      await credits.grant({ ...topUpGrant(updated), db: tx });
      await events.enqueue(tx, 'credits.topped_up', {
        customerId: updated.customer_id,
        amount: updated.amount,
        currency: updated.currency,
      });
      return updated;
    });
    if (!payment) return; // already processed (webhook retried)
    if (payment.purpose === 'topup') {
      // Granting is idempotent by key: this finds the committed entry and tells every process
      // (balance caches, the gateway's credits check) that the balance changed.
      await credits.grant(topUpGrant(payment));
      return;
    }
    if (payment.invoice_id) await settlePaid(payment.invoice_id, { paymentId });
  }

  function topUpGrant(payment: PaymentRow) {
    return {
      customerId: payment.customer_id,
      currency: payment.currency,
      amount: payment.amount,
      kind: 'topup' as const,
      note: 'Top-up',
      idempotencyKey: `topup:${payment.id}`,
    };
  }

  async function paymentFailed(paymentId: string, code: string, message: string): Promise<void> {
    const payment = await billingDb(db)
      .updateTable('billing_payments')
      .set({ status: 'failed', failure_code: code, failure_message: message, updated_at: clock.now() })
      .where('id', '=', paymentId)
      .where('status', '=', 'pending')
      .returning('invoice_id')
      .executeTakeFirst();
    if (!payment?.invoice_id) return;
    const row = await invoiceRow(db, payment.invoice_id);
    if (row?.status !== 'issued') return;
    if (isCheckoutInvoice(row) && row.payment_attempts === 1) {
      await undoCheckout(row, code, message);
      return;
    }
    await enterDunning(row, code, message, null);
  }

  const railEvents = createRailEvents(deps, {
    invoices: parts.invoices,
    checkout: parts.checkout,
    railCustomers: parts.railCustomers,
    paymentSucceeded,
    paymentFailed,
  });

  return {
    resumeCollection,
    collect,
    sendCharge,
    paymentById,
    paymentSucceeded,
    paymentFailed,
    handleRailEvent: railEvents.handleRailEvent,
    handleWebhook: railEvents.handleWebhook,
    async payments(invoiceId: string): Promise<PaymentRow[]> {
      return selectPayments(db).where('invoice_id', '=', invoiceId).orderBy('created_at').execute();
    },
  };
}

/** The first invoice of a checkout (`metadata.first`): a declined charge undoes the checkout. */
function isCheckoutInvoice(row: InvoiceRow): boolean {
  const metadata: unknown = typeof row.metadata === 'string' ? JSON.parse(row.metadata) : row.metadata;
  return typeof metadata === 'object' && metadata !== null && 'first' in metadata && metadata.first === true;
}
