import { sql } from 'kysely';
import { problems } from '../../http/problem.ts';
import { newId } from '../../util/ids.ts';
import type { BillingDeps } from '../deps.ts';
import type { Db, Invoice, InvoiceStatus } from '../model.ts';
import { billingDb } from '../tables.ts';
import { type PaidRow, paidSummary, summary } from './model.ts';
import type { InvoiceReads } from './reads.ts';

/**
 * An issued invoice's way out: paid (by the rail or marked), void or uncollectible. Each change
 * is written with its event in one transaction; paying the last overdue invoice of a subscription
 * brings it back from past due or suspended.
 */
export type InvoiceStatusChanges = ReturnType<typeof createInvoiceStatusChanges>;

export function createInvoiceStatusChanges(
  deps: Pick<BillingDeps, 'store' | 'db' | 'clock' | 'rail' | 'events' | 'subscriptions' | 'documentMails'>,
  parts: { reads: Pick<InvoiceReads, 'mustLoad'> },
) {
  const { store, db, clock, rail, events, subscriptions, documentMails } = deps;
  const { mustLoad } = parts.reads;

  /** Marks an issued (or uncollectible) invoice paid; false when it was not payable. */
  async function settlePaid(id: string, paidOptions: { paymentId?: string } = {}): Promise<boolean> {
    // One transaction: the invoice paid, its manual payment and the invoice.paid event (outbox).
    const row = await store.transaction(async (tx) => {
      const now = clock.now();
      const paidRow = await billingDb(tx)
        .updateTable('billing_invoices')
        .set({ status: 'paid', paid_at: now, next_payment_attempt_at: null })
        .where('id', '=', id)
        .where('status', 'in', ['issued', 'uncollectible'])
        .returning([
          'id',
          'number',
          'customer_id',
          'subscription_id',
          'currency',
          sql<string>`cast(total as text)`.as('total'),
          sql<string>`cast(amount_due as text)`.as('amount_due'),
          'period_from',
          'period_to',
          'first_failed_at',
        ])
        .executeTakeFirst();
      if (!paidRow) return null;
      if (!paidOptions.paymentId && rail.collection === 'manual') {
        await billingDb(tx)
          .insertInto('billing_payments')
          .values({
            id: newId('pay'),
            invoice_id: id,
            customer_id: paidRow.customer_id,
            idempotency_key: `inv:${id}:manual`,
            purpose: 'invoice',
            rail: 'manual',
            status: 'succeeded',
            amount: paidRow.amount_due,
            currency: paidRow.currency,
            created_at: now,
            updated_at: now,
          })
          .onConflict((oc) => oc.column('idempotency_key').doNothing())
          .execute();
      }
      await enqueuePaid(tx, paidRow);
      return paidRow;
    });
    if (!row) return false;
    await afterPaid(row);
    return true;
  }

  /** `invoice.paid` with `tx`, the transaction of the statement that paid the invoice. */
  async function enqueuePaid(tx: Db, row: PaidRow): Promise<void> {
    await events.enqueue(tx, 'invoice.paid', { invoice: paidSummary(row) });
  }

  /**
   * The receipt and a reactivation after an invoice was paid. Its `invoice.paid` was written with
   * the change (`enqueuePaid`), always: `_enqueued` is what callers once said about that, and unused.
   */
  async function afterPaid(row: PaidRow, _enqueued = true): Promise<void> {
    await documentMails.paymentReceipt(paidSummary(row), clock.now());
    // Only an invoice that had failed (or gone overdue) can be what holds a subscription back.
    if (row.first_failed_at && row.subscription_id)
      await reactivateIfSettled({ subscriptionId: row.subscription_id });
  }

  async function markPaid(id: string): Promise<Invoice> {
    const changed = await settlePaid(id);
    const invoice = await mustLoad(id);
    if (!changed && invoice.status !== 'paid') {
      throw problems.conflict(
        `Invoice ${invoice.number ?? id} is ${invoice.status}; only issued invoices can be paid.`,
      );
    }
    return invoice;
  }

  /** Paying the last overdue invoice brings a past-due or suspended subscription back at once. */
  async function reactivateIfSettled(invoice: { subscriptionId: string | null }): Promise<void> {
    if (!invoice.subscriptionId) return;
    const sub = await subscriptions.get(invoice.subscriptionId);
    if (!sub || (sub.status !== 'past_due' && sub.status !== 'suspended')) return;
    const open = await billingDb(db)
      .selectFrom('billing_invoices')
      .select('id')
      .where('subscription_id', '=', sub.id)
      .where('status', '=', 'issued')
      .where('first_failed_at', 'is not', null)
      .limit(1)
      .executeTakeFirst();
    if (open) return;
    await subscriptions.reactivate(sub.id); // emits subscription.reactivated with the change
  }

  async function transition(id: string, to: InvoiceStatus, allowed: InvoiceStatus[]): Promise<Invoice> {
    const changed = await store.transaction(async (tx) => {
      const now = clock.now();
      const row = await billingDb(tx)
        .updateTable('billing_invoices')
        .set({ status: to, next_payment_attempt_at: null, ...(to === 'void' ? { voided_at: now } : {}) })
        .where('id', '=', id)
        .where('status', 'in', allowed)
        .returning('id')
        .executeTakeFirst();
      if (!row) return null;
      const invoice = await mustLoad(id, tx);
      await events.enqueue(tx, `invoice.${to}`, { invoice: summary(invoice) });
      return invoice;
    });
    if (!changed) {
      const invoice = await mustLoad(id);
      throw problems.conflict(
        `Invoice ${invoice.number ?? id} is ${invoice.status}; it cannot become ${to}.`,
      );
    }
    if (to === 'void') await reactivateIfSettled(changed);
    return changed;
  }

  return {
    settlePaid,
    enqueuePaid,
    afterPaid,
    markPaid,
    void: (id: string) => transition(id, 'void', ['draft', 'issued', 'uncollectible']),
    markUncollectible: (id: string) => transition(id, 'uncollectible', ['issued']),
  };
}
