import { sql } from 'kysely';
import type { Checkout } from './checkout.ts';
import type { BillingDeps } from './deps.ts';
import { PAID_RETURNING } from './invoices/model.ts';
import type { Invoices, PaidRow } from './invoices.ts';
import type { RailCustomers } from './rail-customers.ts';
import type { RailEvent } from './rails/types.ts';
import { selectPayments } from './repo.ts';
import { billingDb } from './tables.ts';

/**
 * What the rail tells billing (its webhooks, the sandbox's confirmations): each event is
 * recorded once (`billing_rail_events`), so a redelivered one changes nothing. A successful
 * invoice payment is settled in one statement with its dedupe row, and `invoice.paid` is written
 * in the same transaction; confirmations arriving together are settled together.
 */
type Outcome = 'done' | 'duplicate' | 'other';
type Confirmation = { id: string; type: string; railRef: string; idempotencyKey?: string };

export function createRailEvents(
  deps: Pick<BillingDeps, 'store' | 'db' | 'clock' | 'log' | 'rail'>,
  parts: {
    invoices: Pick<Invoices, 'enqueuePaid' | 'afterPaid'>;
    checkout: Pick<Checkout, 'afterPaymentMethod'>;
    railCustomers: Pick<RailCustomers, 'savePaymentMethod'>;
    paymentSucceeded(paymentId: string): Promise<void>;
    paymentFailed(paymentId: string, code: string, message: string): Promise<void>;
  },
) {
  const { store, db, clock, log, rail } = deps;
  const { enqueuePaid, afterPaid } = parts.invoices;

  /** Not a pending invoice payment: the dedupe row goes, so the general path records the event. */
  async function forget(eventId: string): Promise<void> {
    await billingDb(db)
      .deleteFrom('billing_rail_events')
      .where('rail', '=', rail.name)
      .where('event_id', '=', eventId)
      .execute();
  }

  /**
   * A successful invoice payment confirmed by the rail, in one statement (the builder cannot say
   * the chained data-modifying CTEs): the event is recorded (deduplicated), the pending payment
   * succeeds and its invoice is paid. 'other' when it did not apply (top-ups, unknown payments).
   */
  async function confirmInvoicePayment(event: Confirmation): Promise<Outcome> {
    const now = clock.now();
    const match = event.idempotencyKey
      ? sql`idempotency_key = ${event.idempotencyKey}`
      : sql`rail_ref = ${event.railRef}`;
    // One transaction: the payment, its invoice paid and `invoice.paid` commit together.
    const result = await store.transaction(async (tx) => {
      const { rows } = await sql<{
        fresh: number;
        payment: { purpose: string } | null;
        invoice: PaidRow | null;
      }>`
        with ev as (
          insert into billing_rail_events (rail, event_id, type) values (${rail.name}, ${event.id}, ${event.type})
          on conflict do nothing returning event_id
        ), pay as (
          update billing_payments set status = 'succeeded', rail_ref = coalesce(rail_ref, ${event.railRef}), updated_at = ${now}
          where ${match} and status = 'pending' and purpose = 'invoice' and exists (select 1 from ev)
          returning invoice_id, purpose
        ), inv as (
          update billing_invoices set status = 'paid', paid_at = ${now}, next_payment_attempt_at = null
          where id = (select invoice_id from pay limit 1) and status in ('issued', 'uncollectible')
          returning ${sql.raw(PAID_RETURNING)}
        )
        select (select count(*) from ev)::int as fresh, (select row_to_json(pay) from pay limit 1) as payment,
               (select row_to_json(inv) from inv limit 1) as invoice`.execute(tx);
      const confirmed = rows[0];
      if (confirmed?.invoice) await enqueuePaid(tx, confirmed.invoice);
      return confirmed;
    });
    if (!result || result.fresh === 0) return 'duplicate';
    if (!result.payment) {
      await forget(event.id);
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
    event: Confirmation & { idempotencyKey: string };
    done: (outcome: Outcome) => void;
    fail: (error: unknown) => void;
  }[] = [];

  function confirmQueued(event: Confirmation & { idempotencyKey: string }) {
    return new Promise<Outcome>((done, fail) => {
      confirmQueue.push({ event, done, fail });
      if (confirmQueue.length === 1) setImmediate(flushConfirms);
    });
  }

  /** The queued confirmations' statement: one row per fresh event, with the invoice it paid. */
  function confirmMany(events: readonly (Confirmation & { idempotencyKey: string })[]) {
    const records = events.map((e) => ({
      event_id: e.id,
      type: e.type,
      rail_ref: e.railRef,
      key: e.idempotencyKey,
    }));
    const now = clock.now();
    const returning = sql.raw(PAID_RETURNING.replace(/(^|, )(\w)/g, '$1billing_invoices.$2'));
    return sql<{ event_id: string; paid: boolean; invoice: PaidRow | null }>`
      with e as (
        select distinct on (event_id) * from jsonb_to_recordset(${JSON.stringify(records)}::jsonb)
          as e(event_id text, type text, rail_ref text, key text)
      ), ev as (
        insert into billing_rail_events (rail, event_id, type) select ${rail.name}, event_id, type from e
        on conflict do nothing returning event_id
      ), pay as (
        update billing_payments p set status = 'succeeded', rail_ref = coalesce(p.rail_ref, e.rail_ref), updated_at = ${now}
        from e join ev on ev.event_id = e.event_id
        where p.idempotency_key = e.key and p.status = 'pending' and p.purpose = 'invoice'
        returning p.invoice_id, e.event_id
      ), inv as (
        update billing_invoices set status = 'paid', paid_at = ${now}, next_payment_attempt_at = null
        from pay where billing_invoices.id = pay.invoice_id and billing_invoices.status in ('issued', 'uncollectible')
        returning ${returning}, pay.event_id
      )
      select ev.event_id, pay.event_id is not null as paid, row_to_json(inv) as invoice
      from ev left join pay on pay.event_id = ev.event_id left join inv on inv.event_id = ev.event_id`;
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
        const { rows } = await confirmMany(items.map((i) => i.event)).execute(tx);
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
          settled.add(item.event.id);
          await forget(item.event.id);
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
    const fresh = await billingDb(db)
      .insertInto('billing_rail_events')
      .values({ rail: rail.name, event_id: event.id, type: event.type })
      .onConflict((oc) => oc.doNothing())
      .returning('event_id')
      .executeTakeFirst();
    if (!fresh) return; // delivered before
    if (event.type === 'payment.succeeded' || event.type === 'payment.failed') {
      const key = event.idempotencyKey;
      const payment = await selectPayments(db)
        .where((eb) =>
          key === undefined
            ? eb('rail_ref', '=', event.railRef)
            : eb.or([eb('rail_ref', '=', event.railRef), eb('idempotency_key', '=', key)]),
        )
        .limit(1)
        .executeTakeFirst();
      if (!payment) {
        log.warn({ event }, 'payment event for an unknown payment');
        return;
      }
      if (!payment.rail_ref) {
        await billingDb(db)
          .updateTable('billing_payments')
          .set({ rail_ref: event.railRef })
          .where('id', '=', payment.id)
          .execute();
      }
      if (event.type === 'payment.succeeded') await parts.paymentSucceeded(payment.id);
      else await parts.paymentFailed(payment.id, event.failureCode, event.failureMessage);
      return;
    }
    if (event.type === 'checkout.completed') {
      const customerId = event.metadata.customerId;
      if (!customerId) return;
      if (event.paymentMethodId)
        await parts.railCustomers.savePaymentMethod(
          customerId,
          event.paymentMethodId,
          event.paymentMethodLabel ?? null,
        );
      await parts.checkout.afterPaymentMethod(customerId, event.metadata, { hosted: true });
    }
  }

  return {
    handleRailEvent,
    async handleWebhook(rawBody: string, headers: Headers): Promise<number> {
      const railEvents = await rail.handleWebhook(rawBody, headers);
      for (const e of railEvents) await handleRailEvent(e);
      return railEvents.length;
    },
  };
}
