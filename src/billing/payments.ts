import { newId } from '../util/ids.ts';
import { Decimal } from '../util/money.ts';
import type { Checkout } from './checkout.ts';
import type { BillingDeps } from './deps.ts';
import type { Dunning } from './dunning.ts';
import { type Invoices, PAID_RETURNING, type PaidRow } from './invoices.ts';
import { sqlRows } from './model.ts';
import type { RailCustomers } from './rail-customers.ts';
import type { RailEvent } from './rails/types.ts';
import { type InvoiceRow, invoiceRow, PAYMENT_COLUMNS, type PaymentRow } from './repo.ts';

/**
 * Charging invoices through the rail, the rail's confirmations and webhooks, refunds. A charge
 * attempt is recorded (with its idempotency key) before the rail is called; a confirmation
 * settles it whenever it arrives, once.
 */

/** Dunning code of an invoice whose charge waits on the customer's payment link. */
const PAYMENT_REQUIRED = 'payment_required';

export type Payments = ReturnType<typeof createPayments>;

export function createPayments(
  deps: Pick<BillingDeps, 'store' | 'db' | 'clock' | 'log' | 'rail' | 'credits' | 'events'>,
  parts: {
    invoices: Pick<
      Invoices,
      'mustLoad' | 'issueIn' | 'afterIssue' | 'settlePaid' | 'enqueuePaid' | 'afterPaid'
    >;
    railCustomers: Pick<RailCustomers, 'ensureRailCustomer' | 'savePaymentMethod'>;
    dunning: Pick<Dunning, 'enterDunning'>;
    checkout: Pick<Checkout, 'undoCheckout' | 'afterPaymentMethod'>;
  },
) {
  const { store, db, clock, log, rail, credits, events } = deps;
  const { mustLoad, issueIn, afterIssue, settlePaid, enqueuePaid, afterPaid } = parts.invoices;
  const { ensureRailCustomer, savePaymentMethod } = parts.railCustomers;
  const { enterDunning } = parts.dunning;
  const { undoCheckout, afterPaymentMethod } = parts.checkout;

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
    const pending = await sqlRows<PaymentRow>(
      db,
      `select ${PAYMENT_COLUMNS} from billing_payments where invoice_id = $1 and status = 'pending' and rail_ref is null`,
      [row.id],
    );
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
      if (row.payment_url) {
        const [waiting] = await sqlRows<PaymentRow>(
          tx,
          `select ${PAYMENT_COLUMNS} from billing_payments where invoice_id = $1 and purpose = 'invoice' and status = 'pending'
           order by created_at desc limit 1`,
          [row.id],
        );
        if (waiting) {
          await sqlRows(
            tx,
            'update billing_invoices set payment_attempts = $2, next_payment_attempt_at = null where id = $1',
            [row.id, attempt],
          );
          return { row: { ...row, payment_attempts: attempt }, payment: waiting, link: row.payment_url };
        }
      }
      const [p] = await sqlRows<PaymentRow>(
        tx,
        `insert into billing_payments (id, invoice_id, customer_id, idempotency_key, purpose, rail, status, amount, currency, created_at, updated_at)
         values ($1, $2, $3, $4, 'invoice', $5, 'pending', $6, $7, $8, $8)
         on conflict (idempotency_key) do nothing returning ${PAYMENT_COLUMNS}`,
        [
          newId('pay'),
          row.id,
          row.customer_id,
          `inv:${row.id}:attempt:${attempt}`,
          rail.name,
          row.amount_due,
          row.currency,
          clock.now(),
        ],
      );
      await sqlRows(
        tx,
        'update billing_invoices set payment_attempts = $2, next_payment_attempt_at = null where id = $1',
        [row.id, attempt],
      );
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
      await sqlRows(
        db,
        'update billing_payments set rail_ref = coalesce($2, rail_ref), updated_at = $3 where id = $1',
        [payment.id, result.railRef, clock.now()],
      );
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
    const [row] = await sqlRows<{ id: string }>(
      db,
      `update billing_invoices set payment_url = $2 where id = $1 and status = 'issued' returning id`,
      [invoiceId, url],
    );
    const fresh = row ? await invoiceRow(db, row.id) : null;
    // Paid already (the webhook can beat the rail's answer): nothing is owed.
    if (fresh?.status === 'issued')
      await enterDunning(fresh, PAYMENT_REQUIRED, 'the invoice is not paid yet', url);
  }

  async function paymentById(id: string): Promise<PaymentRow | null> {
    const [p] = await sqlRows<PaymentRow>(
      db,
      `select ${PAYMENT_COLUMNS} from billing_payments where id = $1`,
      [id],
    );
    return p ?? null;
  }

  async function paymentSucceeded(paymentId: string): Promise<void> {
    // A top-up's payment, its credits and `credits.topped_up` commit together or not at all.
    const payment = await store.transaction(async (tx) => {
      const [updated] = await sqlRows<PaymentRow>(
        tx,
        `update billing_payments set status = 'succeeded', updated_at = $2 where id = $1 and status = 'pending' returning ${PAYMENT_COLUMNS}`,
        [paymentId, clock.now()],
      );
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
    const updated = await sqlRows<PaymentRow>(
      db,
      `update billing_payments set status = 'failed', failure_code = $2, failure_message = $3, updated_at = $4
       where id = $1 and status = 'pending' returning ${PAYMENT_COLUMNS}`,
      [paymentId, code, message, clock.now()],
    );
    const payment = updated[0];
    if (!payment?.invoice_id) return;
    const row = await invoiceRow(db, payment.invoice_id);
    if (row?.status !== 'issued') return;
    if (row.metadata && (row.metadata as { first?: boolean }).first === true && row.payment_attempts === 1) {
      await undoCheckout(row, code, message);
      return;
    }
    await enterDunning(row, code, message, null);
  }

  /**
   * A successful invoice payment confirmed by the rail, in one statement: the event is recorded
   * (deduplicated), the pending payment succeeds and its invoice is paid. Returns false when the
   * statement did not apply (top-ups, unknown payments: the general path handles them).
   */
  async function confirmInvoicePayment(event: {
    id: string;
    type: string;
    railRef: string;
    idempotencyKey?: string;
  }): Promise<'done' | 'duplicate' | 'other'> {
    const now = clock.now();
    // One transaction: the payment, its invoice paid and `invoice.paid` commit together.
    const result = await store.transaction(async (tx) => {
      const [confirmed] = await sqlRows<{
        fresh: number;
        payment: { purpose: string } | null;
        invoice: PaidRow | null;
      }>(
        tx,
        `with ev as (
         insert into billing_rail_events (rail, event_id, type) values ($1, $2, $3) on conflict do nothing returning event_id
       ), pay as (
         update billing_payments set status = 'succeeded', rail_ref = coalesce(rail_ref, $4), updated_at = $6
         where ${event.idempotencyKey ? 'idempotency_key = $5' : 'rail_ref = $4 and $5::text is null'} and status = 'pending' and purpose = 'invoice'
           and exists (select 1 from ev)
         returning invoice_id, purpose
       ), inv as (
         update billing_invoices set status = 'paid', paid_at = $6, next_payment_attempt_at = null
         where id = (select invoice_id from pay limit 1) and status in ('issued', 'uncollectible')
         returning ${PAID_RETURNING}
       )
       select (select count(*) from ev)::int as fresh, (select row_to_json(pay) from pay limit 1) as payment,
              (select row_to_json(inv) from inv limit 1) as invoice`,
        [rail.name, event.id, event.type, event.railRef, event.idempotencyKey ?? null, now],
      );
      if (confirmed?.invoice) await enqueuePaid(tx, confirmed.invoice);
      return confirmed;
    });
    if (!result || result.fresh === 0) return 'duplicate';
    if (!result.payment) {
      // Not a pending invoice payment: undo the dedupe row so the general path records it.
      await sqlRows(db, 'delete from billing_rail_events where rail = $1 and event_id = $2', [
        rail.name,
        event.id,
      ]);
      return 'other';
    }
    if (result.invoice) await afterPaid(result.invoice);
    return 'done';
  }

  /**
   * Confirmations that arrive together (the sandbox delivers a billing run's charges a tick
   * apart) are applied in one statement per turn of the event loop, each event as
   * `confirmInvoicePayment` would; every caller still waits for its own outcome.
   */
  const confirmQueue: {
    event: { id: string; type: string; railRef: string; idempotencyKey: string };
    done: (outcome: 'done' | 'duplicate' | 'other') => void;
    fail: (error: unknown) => void;
  }[] = [];

  function confirmQueued(event: { id: string; type: string; railRef: string; idempotencyKey: string }) {
    return new Promise<'done' | 'duplicate' | 'other'>((done, fail) => {
      confirmQueue.push({ event, done, fail });
      if (confirmQueue.length === 1) setImmediate(flushConfirms);
    });
  }

  async function flushConfirms(): Promise<void> {
    const items = confirmQueue.splice(0, 500);
    if (confirmQueue.length > 0) setImmediate(flushConfirms);
    if (items.length === 1) {
      const [only] = items as [(typeof items)[0]];
      await confirmInvoicePayment(only.event).then(only.done, only.fail);
      return;
    }
    let results: { event_id: string; paid: boolean; invoice: PaidRow | null }[];
    try {
      // One transaction: the payments, their invoices paid and the `invoice.paid` events.
      results = await store.transaction(async (tx) => {
        const rows = await sqlRows<{ event_id: string; paid: boolean; invoice: PaidRow | null }>(
          tx,
          `with e as (
           select distinct on (event_id) * from jsonb_to_recordset($1::jsonb) as e(event_id text, type text, rail_ref text, key text)
         ), ev as (
           insert into billing_rail_events (rail, event_id, type) select $2, event_id, type from e on conflict do nothing returning event_id
         ), pay as (
           update billing_payments p set status = 'succeeded', rail_ref = coalesce(p.rail_ref, e.rail_ref), updated_at = $3
           from e join ev on ev.event_id = e.event_id
           where p.idempotency_key = e.key and p.status = 'pending' and p.purpose = 'invoice'
           returning p.invoice_id, e.event_id
         ), inv as (
           update billing_invoices set status = 'paid', paid_at = $3, next_payment_attempt_at = null
           from pay where billing_invoices.id = pay.invoice_id and billing_invoices.status in ('issued', 'uncollectible')
           returning ${PAID_RETURNING.replace(/(^|, )(\w)/g, '$1billing_invoices.$2')}, pay.event_id
         )
         select ev.event_id, pay.event_id is not null as paid, row_to_json(inv) as invoice
         from ev left join pay on pay.event_id = ev.event_id left join inv on inv.event_id = ev.event_id`,
          [
            JSON.stringify(
              items.map((i) => ({
                event_id: i.event.id,
                type: i.event.type,
                rail_ref: i.event.railRef,
                key: i.event.idempotencyKey,
              })),
            ),
            rail.name,
            clock.now(),
          ],
        );
        for (const row of rows) if (row.invoice) await enqueuePaid(tx, row.invoice);
        return rows;
      });
    } catch (error) {
      for (const item of items) item.fail(error);
      return;
    }
    const byEvent = new Map(results.map((r) => [r.event_id, r]));
    const settled = new Set<string>();
    for (const item of items) {
      const r = byEvent.get(item.event.id);
      try {
        if (!r || settled.has(item.event.id)) item.done('duplicate');
        else if (!r.paid) {
          // Not a pending invoice payment: undo the dedupe row so the general path records it.
          settled.add(item.event.id);
          await sqlRows(db, 'delete from billing_rail_events where rail = $1 and event_id = $2', [
            rail.name,
            item.event.id,
          ]);
          item.done('other');
        } else {
          settled.add(item.event.id);
          if (r.invoice) await afterPaid(r.invoice);
          item.done('done');
        }
      } catch (error) {
        item.fail(error);
      }
    }
  }

  async function handleRailEvent(event: RailEvent): Promise<void> {
    if (
      event.type === 'payment.succeeded' &&
      (await (event.idempotencyKey
        ? confirmQueued({ ...event, idempotencyKey: event.idempotencyKey })
        : confirmInvoicePayment(event))) !== 'other'
    )
      return;
    const fresh = await sqlRows(
      db,
      'insert into billing_rail_events (rail, event_id, type) values ($1, $2, $3) on conflict do nothing returning event_id',
      [rail.name, event.id, event.type],
    );
    if (fresh.length === 0) return; // delivered before
    if (event.type === 'payment.succeeded' || event.type === 'payment.failed') {
      const [payment] = await sqlRows<PaymentRow>(
        db,
        `select ${PAYMENT_COLUMNS} from billing_payments where rail_ref = $1 or ($2::text is not null and idempotency_key = $2) limit 1`,
        [event.railRef, event.idempotencyKey ?? null],
      );
      if (!payment) {
        log.warn({ event }, 'payment event for an unknown payment');
        return;
      }
      if (!payment.rail_ref) {
        await sqlRows(db, 'update billing_payments set rail_ref = $2 where id = $1', [
          payment.id,
          event.railRef,
        ]);
      }
      if (event.type === 'payment.succeeded') await paymentSucceeded(payment.id);
      else await paymentFailed(payment.id, event.failureCode, event.failureMessage);
      return;
    }
    if (event.type === 'checkout.completed') {
      const customerId = event.metadata.customerId;
      if (!customerId) return;
      if (event.paymentMethodId)
        await savePaymentMethod(customerId, event.paymentMethodId, event.paymentMethodLabel ?? null);
      await afterPaymentMethod(customerId, event.metadata);
    }
  }

  return {
    resumeCollection,
    collect,
    sendCharge,
    paymentById,
    paymentSucceeded,
    paymentFailed,
    handleRailEvent,
    async payments(invoiceId: string): Promise<PaymentRow[]> {
      return sqlRows<PaymentRow>(
        db,
        `select ${PAYMENT_COLUMNS} from billing_payments where invoice_id = $1 order by created_at`,
        [invoiceId],
      );
    },
    async handleWebhook(rawBody: string, headers: Headers): Promise<number> {
      const railEvents = await rail.handleWebhook(rawBody, headers);
      for (const e of railEvents) await handleRailEvent(e);
      return railEvents.length;
    },
  };
}
