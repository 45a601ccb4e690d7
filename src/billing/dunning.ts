import type { NotNull } from 'kysely';
import { type BillingDeps, DAY, drainRail, withLock } from './deps.ts';
import { type Invoices, summary } from './invoices.ts';
import type { InvoiceRow, PaymentRow } from './repo.ts';
import { billingDb } from './tables.ts';

/**
 * Dunning: an unpaid invoice is retried on the retry days after its first failure, its
 * subscription goes past due, and is suspended once the grace period has passed.
 */
const DUNNING_LOCK = 'billing-dunning';

export type Dunning = ReturnType<typeof createDunning>;

export function createDunning(
  deps: Pick<
    BillingDeps,
    | 'store'
    | 'db'
    | 'clock'
    | 'config'
    | 'subscriptions'
    | 'rail'
    | 'credits'
    | 'events'
    | 'retryDays'
    | 'mailCustomer'
    | 'portalInvoicesUrl'
  >,
  parts: {
    invoices: Pick<Invoices, 'mustLoad'>;
    /** Payments need dunning too, so the retry comes in as a function. */
    collect(invoiceId: string): Promise<PaymentRow | null>;
  },
) {
  const { store, db, clock, config, subscriptions, rail, credits, events, mailCustomer, portalInvoicesUrl } =
    deps;
  const { mustLoad } = parts.invoices;
  const { collect } = parts;

  /**
   * An issued invoice its latest attempt did not pay (declined, or waiting on the customer's
   * payment link): the next attempt per `retryDays` after the first failure, the subscription
   * past due, the `invoice.payment_failed` event and a mail to the customer.
   */
  async function enterDunning(
    row: InvoiceRow,
    code: string,
    message: string,
    paymentUrl: string | null,
  ): Promise<void> {
    const now = clock.now();
    const firstFailed = row.first_failed_at ? new Date(row.first_failed_at) : now;
    const retryIndex = row.payment_attempts - 1;
    const retryDays = deps.retryDays();
    const retryDay = retryDays[retryIndex];
    const next = retryDay === undefined ? null : new Date(firstFailed.getTime() + retryDay * DAY);
    // The invoice's dunning state and `invoice.payment_failed` commit together.
    const invoice = await store.transaction(async (tx) => {
      await billingDb(tx)
        .updateTable('billing_invoices')
        .set((eb) => ({
          first_failed_at: eb.fn.coalesce('first_failed_at', eb.val(now)),
          last_payment_error: `${code}: ${message}`,
          next_payment_attempt_at: next,
        }))
        .where('id', '=', row.id)
        .execute();
      const failed = await mustLoad(row.id, tx);
      await events.enqueue(tx, 'invoice.payment_failed', {
        invoice: summary(failed),
        failureCode: code,
        failureMessage: message,
        nextPaymentAttemptAt: failed.nextPaymentAttemptAt,
        paymentUrl,
      });
      return failed;
    });
    if (row.subscription_id) {
      const sub = await subscriptions.get(row.subscription_id);
      if (sub && (sub.status === 'active' || sub.status === 'trialing')) {
        await subscriptions.markPastDue(sub.id); // emits subscription.past_due with the change
      }
    }
    const name = invoice.number ?? invoice.id;
    const grace = `Your API access continues for ${config.billing.gracePeriodDays} days after the ${paymentUrl ? 'invoice was issued' : 'first failed payment'}.`;
    if (paymentUrl) {
      await mailCustomer(
        invoice.customerId,
        `Invoice ${name}: ${invoice.amountDue} ${invoice.currency} to pay`,
        [
          `Invoice ${name} for ${invoice.amountDue} ${invoice.currency} is due. Pay it here: ${paymentUrl}`,
          invoice.nextPaymentAttemptAt
            ? `If it is still open, we will remind you on ${invoice.nextPaymentAttemptAt.slice(0, 10)}.`
            : 'This is the last reminder.',
          `Your invoices: ${portalInvoicesUrl?.() ?? '/portal/invoices'}`,
          grace,
        ].join('\n\n'),
      );
      return;
    }
    await mailCustomer(
      invoice.customerId,
      `Payment failed for invoice ${name}`,
      [
        `We could not collect ${invoice.amountDue} ${invoice.currency} for invoice ${name} (${message}).`,
        invoice.nextPaymentAttemptAt
          ? `We will try again on ${invoice.nextPaymentAttemptAt.slice(0, 10)}.`
          : 'We will not retry automatically.',
        `Update your card or pay the invoice: ${portalInvoicesUrl?.() ?? '/portal/invoices'}`,
        grace,
      ].join('\n\n'),
    );
  }

  async function runDunning(
    now: Date = clock.now(),
  ): Promise<{ retried: number; overdue: number; suspended: number }> {
    const out = { retried: 0, overdue: 0, suspended: 0 };
    const result = await withLock(store, DUNNING_LOCK, async () => {
      const due = await billingDb(db)
        .selectFrom('billing_invoices')
        .select('id')
        .where('status', '=', 'issued')
        .where('next_payment_attempt_at', 'is not', null)
        .where('next_payment_attempt_at', '<=', now)
        .orderBy('next_payment_attempt_at')
        .execute();
      for (const d of due) {
        await collect(d.id);
        out.retried++;
      }
      if (rail.collection === 'manual') {
        const overdue = await billingDb(db)
          .updateTable('billing_invoices')
          .set((eb) => ({
            first_failed_at: eb.ref('due_at'),
            last_payment_error: 'overdue: payment terms passed',
          }))
          .where('status', '=', 'issued')
          .where('first_failed_at', 'is', null)
          .where('due_at', '<=', now)
          .where('amount_due', '>', '0')
          .returning(['id', 'subscription_id'])
          .execute();
        for (const o of overdue) {
          out.overdue++;
          if (!o.subscription_id) continue;
          const sub = await subscriptions.get(o.subscription_id);
          if (sub && (sub.status === 'active' || sub.status === 'trialing')) {
            await subscriptions.markPastDue(sub.id); // emits subscription.past_due with the change
          }
        }
      }
      const graceMs = config.billing.gracePeriodDays * DAY;
      const lapsed = await billingDb(db)
        .selectFrom('billing_invoices')
        .select('subscription_id')
        .distinct()
        .where('status', '=', 'issued')
        .where('subscription_id', 'is not', null)
        .where('first_failed_at', 'is not', null)
        .where('first_failed_at', '<=', new Date(now.getTime() - graceMs))
        .$narrowType<{ subscription_id: NotNull }>()
        .execute();
      for (const l of lapsed) {
        const sub = await subscriptions.get(l.subscription_id);
        if (sub && sub.status === 'past_due') {
          await subscriptions.suspend(sub.id); // emits subscription.suspended with the change
          await mailCustomer(
            sub.customerId,
            'Your API access is suspended',
            `Your subscription is suspended because an invoice is unpaid ${config.billing.gracePeriodDays} days after the first failed payment. Pay it to restore access at once: ${portalInvoicesUrl?.() ?? '/portal/invoices'}`,
          );
          out.suspended++;
        }
      }
      await credits.expireDue(now);
      return out;
    });
    await drainRail(rail);
    return result ?? out;
  }

  return { enterDunning, runDunning };
}
