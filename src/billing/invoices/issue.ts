import type { Insertable } from 'kysely';
import { problems } from '../../http/problem.ts';
import { newId } from '../../util/ids.ts';
import { Decimal, formatMoney, minorUnits } from '../../util/money.ts';
import { type BillingDeps, DAY } from '../deps.ts';
import type { Db, InvoiceStatus } from '../model.ts';
import type { RatedLine } from '../rating.ts';
import { invoiceRow, nextInvoiceNumber, type PaymentRow } from '../repo.ts';
import { type BillingTables, billingDb } from '../tables.ts';
import { type Created, createdSummary, firstAttempt, type InvoiceInput, summary, totals } from './model.ts';
import type { InvoiceReads } from './reads.ts';
import { lineRecord } from './statements.ts';

/**
 * Writing an invoice and issuing it, each in one transaction with its events: credits drawn,
 * the number taken from the gapless counter, lines written, and on card rails the first charge
 * attempt recorded (with its idempotency key) before anything is sent to the rail.
 */
const DUPLICATE = Symbol('duplicate invoice');

export type InvoiceIssuing = ReturnType<typeof createInvoiceIssuing>;

export function createInvoiceIssuing(
  deps: Pick<BillingDeps, 'store' | 'clock' | 'rail' | 'credits' | 'events' | 'taxRate'>,
  parts: {
    reads: Pick<InvoiceReads, 'mustLoad'>;
    termDays(): number;
  },
) {
  const { store, clock, rail, credits, events } = deps;
  const { mustLoad } = parts.reads;
  const { termDays } = parts;

  /**
   * `invoice.issued` (and `invoice.paid` for an invoice with nothing to pay) with `tx`, the
   * transaction that created the invoice, in that order: the outbox delivers them in it.
   */
  async function enqueueIssued(tx: Db, created: Created): Promise<void> {
    if (created.status === 'draft') return;
    const invoice = createdSummary(created);
    await events.enqueue(tx, 'invoice.issued', { invoice });
    if (created.status === 'paid') await events.enqueue(tx, 'invoice.paid', { invoice });
  }

  /**
   * Creates and (unless `issue: false`) issues an invoice that draws credits, or a draft, in one
   * transaction. `key` makes it idempotent: null when an invoice with that key exists (the
   * number and any credit drawn roll back).
   */
  async function createInTransaction(input: InvoiceInput, now: Date): Promise<Created | null> {
    const digits = minorUnits(input.currency);
    const taxRate = deps.taxRate();
    const issue = input.issue !== false;
    try {
      return await store.transaction(async (tx) => {
        const id = newId('inv');
        const { subtotal, tax, total } = totals(input.lines, input.currency, taxRate);
        // Also at a zero total: the period's real-time credit usage is settled against its invoice.
        const creditsApplied = input.applyCredits
          ? new Decimal(
              await credits.drawdown(tx, {
                customerId: input.customerId,
                currency: input.currency,
                amount: total.toFixed(digits),
                invoiceId: id,
                invoiceKey: input.key,
                period: input.period,
                lines: input.lines,
              }),
            )
          : new Decimal(0);
        const amountDue = total.sub(creditsApplied);
        const zero = amountDue.lte(0);
        const status: InvoiceStatus = !issue ? 'draft' : zero ? 'paid' : 'issued';
        const charge = issue && !zero && rail.collection === 'automatic';
        const inserted = await billingDb(tx)
          .insertInto('billing_invoices')
          .values({
            id,
            number: issue ? await nextInvoiceNumber(tx) : null,
            customer_id: input.customerId,
            subscription_id: input.subscriptionId,
            idempotency_key: input.key,
            status,
            currency: input.currency,
            period_from: input.period.from,
            period_to: input.period.to,
            subtotal: subtotal.toFixed(digits),
            tax_rate: taxRate,
            tax: tax.toFixed(digits),
            total: total.toFixed(digits),
            credits_applied: creditsApplied.toFixed(digits),
            amount_due: amountDue.toFixed(digits),
            rail: rail.name,
            issued_at: issue ? now : null,
            due_at: issue ? new Date(now.getTime() + termDays() * DAY) : null,
            paid_at: status === 'paid' ? now : null,
            payment_attempts: charge ? 1 : 0,
            metadata: JSON.stringify(input.metadata ?? {}),
            created_at: now,
          })
          .onConflict((oc) => oc.column('idempotency_key').doNothing())
          .returning(['id', 'number'])
          .executeTakeFirst();
        if (!inserted) throw DUPLICATE; // rolls back the number and any credit drawn
        await insertLines(tx, id, input.lines, creditsApplied, input.period, input.currency);
        const payment = charge
          ? await insertFirstAttempt(tx, id, input.customerId, amountDue.toFixed(digits), input.currency, now)
          : null;
        const created: Created = {
          id,
          number: inserted.number,
          status,
          customerId: input.customerId,
          subscriptionId: input.subscriptionId,
          currency: input.currency,
          total: total.toFixed(digits),
          amountDue: amountDue.toFixed(digits),
          periodFrom: input.period.from.toISOString(),
          periodTo: input.period.to.toISOString(),
          creditsApplied: creditsApplied.toFixed(digits),
          payment,
        };
        await enqueueIssued(tx, created);
        return created;
      });
    } catch (error) {
      if (error === DUPLICATE) return null;
      throw error;
    }
  }

  async function insertFirstAttempt(
    tx: Db,
    invoiceId: string,
    customerId: string,
    amount: string,
    currency: string,
    now: Date,
  ): Promise<PaymentRow> {
    const payment = firstAttempt({
      id: newId('pay'),
      invoiceId,
      customerId,
      rail: rail.name,
      amount,
      currency,
      now,
    });
    await billingDb(tx)
      .insertInto('billing_payments')
      .values({ ...payment, updated_at: now })
      .execute();
    return payment;
  }

  /** The invoice's lines, and a "Credits applied" line when credits paid part of it. */
  async function insertLines(
    tx: Db,
    invoiceId: string,
    lines: RatedLine[],
    creditsApplied: Decimal,
    period: { from: Date; to: Date },
    currency: string,
  ): Promise<void> {
    const rows: Insertable<BillingTables['billing_invoice_lines']>[] = lines.map((l, i) => ({
      ...lineRecord(invoiceId, i + 1, l),
      tiers: l.tiers ? JSON.stringify(l.tiers) : null,
    }));
    if (creditsApplied.gt(0)) {
      const amount = formatMoney(creditsApplied.neg(), currency);
      rows.push({
        invoice_id: invoiceId,
        position: rows.length + 1,
        key: 'credits',
        kind: 'credits',
        description: 'Credits applied',
        rate_card_key: null,
        feature_key: null,
        plan_key: null,
        plan_version: null,
        period_from: period.from,
        period_to: period.to,
        quantity: '1',
        unit_price: amount,
        amount,
        tiers: null,
      });
    }
    if (rows.length === 0) return;
    await billingDb(tx).insertInto('billing_invoice_lines').values(rows).execute();
  }

  /** Issues a draft with `tx`: its number, due date and events (a zero amount due is paid at once). */
  async function issueIn(tx: Db, id: string): Promise<void> {
    const row = await invoiceRow(tx, id, true);
    if (!row) throw problems.notFound(`No invoice ${id}.`);
    if (row.status !== 'draft')
      throw problems.conflict(`Invoice ${row.number ?? id} is ${row.status}, not a draft.`);
    const now = clock.now();
    const zero = new Decimal(row.amount_due).lte(0);
    await billingDb(tx)
      .updateTable('billing_invoices')
      .set({
        status: zero ? 'paid' : 'issued',
        number: await nextInvoiceNumber(tx),
        issued_at: now,
        due_at: new Date(now.getTime() + termDays() * DAY),
        paid_at: zero ? now : null,
      })
      .where('id', '=', id)
      .execute();
    // With the change: a failed event write rolls the issue back (the invoice stays a draft).
    const issued = summary(await mustLoad(id, tx));
    await events.enqueue(tx, 'invoice.issued', { invoice: issued });
    if (zero) await events.enqueue(tx, 'invoice.paid', { invoice: issued });
  }

  return { enqueueIssued, createInTransaction, issueIn };
}
