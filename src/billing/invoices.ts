import { problems } from '../http/problem.ts';
import { newId } from '../util/ids.ts';
import { Decimal, formatMoney, minorUnits, roundMoney } from '../util/money.ts';
import { type BillingDeps, DAY, type TaxRate } from './deps.ts';
import { type Db, type Invoice, type InvoiceStatus, sqlRows } from './model.ts';
import type { RatedLine } from './rating.ts';
import {
  type InvoiceFilter,
  invoiceLines,
  invoiceRow,
  listInvoiceRows,
  nextInvoiceNumber,
  PAYMENT_COLUMNS,
  type PaymentRow,
  toInvoice,
} from './repo.ts';

/**
 * Invoices: reading them, creating and issuing them (numbers from the gapless counter, taken in
 * the issuing transaction or statement) and their lifecycle (paid, void, uncollectible).
 */

/** What `createAndIssue` writes: one invoice, idempotent by `key`. */
export interface InvoiceInput {
  key: string;
  customerId: string;
  subscriptionId: string | null;
  currency: string;
  period: { from: Date; to: Date };
  lines: RatedLine[];
  applyCredits: boolean;
  metadata?: Record<string, unknown>;
  issue?: boolean;
}

/** An invoice as `createAndIssue(Many)` wrote it, with its first charge attempt (card rails). */
export interface Created {
  id: string;
  number: string | null;
  status: InvoiceStatus;
  customerId: string;
  subscriptionId: string | null;
  currency: string;
  total: string;
  amountDue: string;
  periodFrom: string;
  periodTo: string;
  creditsApplied: string;
  payment: PaymentRow | null;
}
const DUPLICATE = Symbol('duplicate invoice');

/** The invoice a charge attempt is for. */
export interface ChargeTarget {
  id: string;
  customerId: string;
  number: string | null;
  currency: string;
}

export type Invoices = ReturnType<typeof createInvoices>;

/** Subtotal, tax (rounded once, on the subtotal) and total of an invoice's lines. */
export function totals(lines: readonly { amount: string }[], currency: string, taxRate: TaxRate | null) {
  const subtotal = lines.reduce((acc, l) => acc.add(l.amount), new Decimal(0));
  const tax = taxRate ? roundMoney(subtotal.mul(taxRate), currency) : new Decimal(0);
  return { subtotal, tax, total: subtotal.add(tax) };
}

/** An invoice as events carry it. */
export function summary(invoice: Invoice) {
  return {
    id: invoice.id,
    number: invoice.number,
    customerId: invoice.customerId,
    subscriptionId: invoice.subscriptionId,
    status: invoice.status,
    currency: invoice.currency,
    total: invoice.total,
    amountDue: invoice.amountDue,
    periodFrom: invoice.periodFrom,
    periodTo: invoice.periodTo,
  };
}

/** An invoice as `createAndIssue(Many)` wrote it, as events carry it (`summary`'s fields). */
export function createdSummary(created: Created) {
  return {
    id: created.id,
    number: created.number,
    customerId: created.customerId,
    subscriptionId: created.subscriptionId,
    status: created.status,
    currency: created.currency,
    total: created.total,
    amountDue: created.amountDue,
    periodFrom: created.periodFrom,
    periodTo: created.periodTo,
  };
}

/** An invoice just paid, as the statements that pay it return it. */
export interface PaidRow {
  id: string;
  number: string | null;
  customer_id: string;
  subscription_id: string | null;
  currency: string;
  total: string;
  amount_due: string;
  period_from: Date | string;
  period_to: Date | string;
  first_failed_at: Date | string | null;
}
export const PAID_RETURNING = `id, number, customer_id, subscription_id, currency, total::text as total, amount_due::text as amount_due,
                 period_from, period_to, first_failed_at`;

export function createInvoices(
  deps: Pick<
    BillingDeps,
    | 'store'
    | 'db'
    | 'clock'
    | 'rail'
    | 'credits'
    | 'events'
    | 'subscriptions'
    | 'taxRate'
    | 'netDays'
    | 'documentMails'
  >,
  /** Collection (payments, top-ups) needs invoices too, so it comes in as functions. */
  collection: {
    sendCharge(invoice: ChargeTarget, payment: PaymentRow): Promise<PaymentRow>;
    collect(invoiceId: string): Promise<PaymentRow | null>;
    autoRecharge(customerId: string, currency: string): Promise<boolean>;
  },
) {
  const { store, db, clock, rail, credits, events, subscriptions, documentMails } = deps;
  const { sendCharge, collect, autoRecharge } = collection;

  /** Days until an issued invoice is due: net-N on the invoice rail, at once where the rail charges. */
  function termDays(): number {
    return rail.collection === 'manual' ? deps.netDays() : 0;
  }

  async function load(id: string, on: Db = db): Promise<Invoice | null> {
    const row = await invoiceRow(on, id);
    if (!row) return null;
    return toInvoice(row, await invoiceLines(on, [id]), minorUnits(row.currency));
  }

  async function mustLoad(id: string, on: Db = db): Promise<Invoice> {
    const invoice = await load(id, on);
    if (!invoice) throw problems.notFound(`No invoice ${id}.`);
    return invoice;
  }

  /**
   * Creates and (unless `issue: false`) issues an invoice in one transaction: credits drawn,
   * number assigned from the gapless counter, lines written, and on card rails the first charge
   * attempt recorded (with its idempotency key) before anything is sent to the rail. `key` makes
   * it idempotent: returns null when an invoice with that key exists (and rolls back the number).
   */
  async function createAndIssue(input: InvoiceInput): Promise<Created | null> {
    const now = clock.now();
    const digits = minorUnits(input.currency);
    const taxRate = deps.taxRate();
    const issue = input.issue !== false;
    if (issue && !input.applyCredits) return createAndIssueInOneStatement(input, now, digits);
    try {
      return await store.transaction(async (tx) => {
        const id = newId('inv');
        const { subtotal, tax, total } = totals(input.lines, input.currency, taxRate);
        let creditsApplied = new Decimal(0);
        // Also at a zero total: the period's real-time credit usage is settled against its invoice.
        if (input.applyCredits) {
          creditsApplied = new Decimal(
            await credits.drawdown(tx, {
              customerId: input.customerId,
              currency: input.currency,
              amount: total.toFixed(digits),
              invoiceId: id,
              invoiceKey: input.key,
              period: input.period,
              lines: input.lines,
            }),
          );
        }
        const amountDue = total.sub(creditsApplied);
        const zero = amountDue.lte(0);
        const number = issue ? await nextInvoiceNumber(tx) : null;
        const status: InvoiceStatus = !issue ? 'draft' : zero ? 'paid' : 'issued';
        const netDays = termDays();
        const charge = issue && !zero && rail.collection === 'automatic';
        const inserted = await sqlRows<{ id: string }>(
          tx,
          `insert into billing_invoices (id, number, customer_id, subscription_id, idempotency_key, status, currency, period_from, period_to,
             subtotal, tax_rate, tax, total, credits_applied, amount_due, rail, issued_at, due_at, paid_at, payment_attempts, metadata, created_at)
           values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22)
           on conflict (idempotency_key) do nothing returning id`,
          [
            id,
            number,
            input.customerId,
            input.subscriptionId,
            input.key,
            status,
            input.currency,
            input.period.from,
            input.period.to,
            subtotal.toFixed(digits),
            taxRate,
            tax.toFixed(digits),
            total.toFixed(digits),
            creditsApplied.toFixed(digits),
            amountDue.toFixed(digits),
            rail.name,
            issue ? now : null,
            issue ? new Date(now.getTime() + netDays * DAY) : null,
            status === 'paid' ? now : null,
            charge ? 1 : 0,
            JSON.stringify(input.metadata ?? {}),
            now,
          ],
        );
        if (inserted.length === 0) throw DUPLICATE; // rolls back the number and any credit drawn
        await insertLines(tx, id, input.lines, creditsApplied, input.period, input.currency);
        let payment: PaymentRow | null = null;
        if (charge) {
          [payment] = (await sqlRows<PaymentRow>(
            tx,
            `insert into billing_payments (id, invoice_id, customer_id, idempotency_key, purpose, rail, status, amount, currency, created_at, updated_at)
             values ($1, $2, $3, $4, 'invoice', $5, 'pending', $6, $7, $8, $8) returning ${PAYMENT_COLUMNS}`,
            [
              newId('pay'),
              id,
              input.customerId,
              `inv:${id}:attempt:1`,
              rail.name,
              amountDue.toFixed(digits),
              input.currency,
              now,
            ],
          )) as [PaymentRow];
        }
        const created: Created = {
          id,
          number,
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

  /**
   * The billing run's common case (no credits to draw) as one SQL statement, atomic on its own:
   * number, invoice, lines and the first charge attempt. The counter only moves when no invoice
   * with the key exists; two runners inserting the same key at the same instant (which the run's
   * lock prevents) could leave one number unused.
   */
  async function createAndIssueInOneStatement(
    input: InvoiceInput,
    now: Date,
    digits: number,
  ): Promise<Created | null> {
    const id = newId('inv');
    const taxRate = deps.taxRate();
    const { subtotal, tax, total } = totals(input.lines, input.currency, taxRate);
    const zero = total.lte(0);
    const status: InvoiceStatus = zero ? 'paid' : 'issued';
    const netDays = termDays();
    const charge = !zero && rail.collection === 'automatic';
    const paymentId = newId('pay');
    const paymentKey = `inv:${id}:attempt:1`;
    const params: unknown[] = [
      input.key, // $1
      id,
      input.customerId,
      input.subscriptionId,
      status,
      input.currency,
      input.period.from,
      input.period.to,
      subtotal.toFixed(digits),
      taxRate, // $10
      tax.toFixed(digits),
      total.toFixed(digits),
      rail.name,
      now,
      new Date(now.getTime() + netDays * DAY),
      zero ? now : null,
      charge ? 1 : 0,
      JSON.stringify(input.metadata ?? {}), // $18
    ];
    const p = (value: unknown, cast: string) => {
      params.push(value);
      return `$${params.length}::${cast}`;
    };
    const lineValues = input.lines.map(
      (l, i) =>
        `(${[
          p(i + 1, 'int'),
          p(l.key, 'text'),
          p(l.kind, 'text'),
          p(l.description, 'text'),
          p(l.rateCardKey, 'text'),
          p(l.featureKey, 'text'),
          p(l.planKey, 'text'),
          p(l.planVersion, 'int'),
          p(l.periodFrom, 'timestamptz'),
          p(l.periodTo, 'timestamptz'),
          p(l.quantity, 'numeric'),
          p(l.unitPrice, 'numeric'),
          p(l.amount, 'numeric'),
          p(l.tiers ? JSON.stringify(l.tiers) : null, 'jsonb'),
        ].join(', ')})`,
    );
    const linesCte =
      lineValues.length === 0
        ? ''
        : `, lines as (
            insert into billing_invoice_lines (invoice_id, position, key, kind, description, rate_card_key, feature_key, plan_key,
              plan_version, period_from, period_to, quantity, unit_price, amount, tiers)
            select inv.id, v.* from inv, (values ${lineValues.join(', ')}) as v
          )`;
    const payCte = charge
      ? `, pay as (
            insert into billing_payments (id, invoice_id, customer_id, idempotency_key, purpose, rail, status, amount, currency, created_at, updated_at)
            select ${p(paymentId, 'text')}, inv.id, $3, ${p(paymentKey, 'text')}, 'invoice', $13, 'pending', $12::numeric, $6, $14, $14 from inv
          )`
      : '';
    return store.transaction(async (tx) => {
      const [row] = await sqlRows<{ id: string; number: string }>(
        tx,
        `with num as (
           insert into billing_counters (name, value)
           select 'invoice', 1 where not exists (select 1 from billing_invoices where idempotency_key = $1)
           on conflict (name) do update set value = billing_counters.value + 1 returning value
         ), inv as (
           insert into billing_invoices (idempotency_key, id, customer_id, subscription_id, status, currency, period_from, period_to,
             subtotal, tax_rate, tax, total, credits_applied, amount_due, rail, issued_at, due_at, paid_at, payment_attempts, metadata,
             created_at, number)
           select $1, $2, $3, $4, $5, $6, $7, $8, $9::numeric, $10::numeric, $11::numeric, $12::numeric, 0, $12::numeric, $13, $14, $15,
             $16::timestamptz, $17::int, $18::jsonb, $14, 'INV-' || lpad(num.value::text, 6, '0') from num
           on conflict (idempotency_key) do nothing returning id, number
         )${linesCte}${payCte}
         select id, number from inv`,
        params,
      );
      if (!row) return null;
      const payment: PaymentRow | null = charge
        ? {
            id: paymentId,
            invoice_id: id,
            customer_id: input.customerId,
            idempotency_key: paymentKey,
            purpose: 'invoice',
            rail: rail.name,
            status: 'pending',
            amount: total.toFixed(digits),
            currency: input.currency,
            rail_ref: null,
            failure_code: null,
            failure_message: null,
            created_at: now,
          }
        : null;
      const created: Created = {
        id,
        number: row.number,
        status,
        customerId: input.customerId,
        subscriptionId: input.subscriptionId,
        currency: input.currency,
        total: total.toFixed(digits),
        amountDue: total.toFixed(digits),
        periodFrom: input.period.from.toISOString(),
        periodTo: input.period.to.toISOString(),
        creditsApplied: formatMoney(0, input.currency),
        payment,
      };
      // The same transaction: the invoice and its events commit together or not at all.
      await enqueueIssued(tx, created);
      return created;
    });
  }

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

  /** The mail and the first charge after `createAndIssue` (its events were written with it). */
  async function afterCreated(created: Created): Promise<void> {
    if (created.status === 'draft') return;
    const { payment, creditsApplied } = created;
    const mail = () =>
      documentMails.invoiceIssued(
        { ...createdSummary(created), creditsApplied, dueAt: null },
        payment !== null,
      );
    if (created.status !== 'paid' && payment && rail.paysByLink) {
      // Charged first: a charge that became a pay link was mailed with it (dunning), one mail.
      await sendCharge(created, payment);
      if (!(await mustLoad(created.id)).paymentUrl) await mail();
    } else {
      await mail();
      if (created.status !== 'paid' && payment) await sendCharge(created, payment);
    }
    if (new Decimal(creditsApplied).gt(0)) await autoRecharge(created.customerId, created.currency);
  }

  async function insertLines(
    tx: Db,
    invoiceId: string,
    lines: RatedLine[],
    creditsApplied: Decimal,
    period: { from: Date; to: Date },
    currency: string,
  ): Promise<void> {
    const rows: unknown[][] = lines.map((l, i) => [
      invoiceId,
      i + 1,
      l.key,
      l.kind,
      l.description,
      l.rateCardKey,
      l.featureKey,
      l.planKey,
      l.planVersion,
      l.periodFrom,
      l.periodTo,
      l.quantity,
      l.unitPrice,
      l.amount,
      l.tiers ? JSON.stringify(l.tiers) : null,
    ]);
    if (creditsApplied.gt(0)) {
      const amount = formatMoney(creditsApplied.neg(), currency);
      rows.push([
        invoiceId,
        rows.length + 1,
        'credits',
        'credits',
        'Credits applied',
        null,
        null,
        null,
        null,
        period.from,
        period.to,
        '1',
        amount,
        amount,
        null,
      ]);
    }
    if (rows.length === 0) return;
    const params: unknown[] = [];
    const values = rows.map((r) => {
      const base = params.length;
      params.push(...r);
      return `(${r.map((_, j) => `$${base + j + 1}`).join(', ')})`;
    });
    await sqlRows(
      tx,
      `insert into billing_invoice_lines (invoice_id, position, key, kind, description, rate_card_key, feature_key, plan_key,
         plan_version, period_from, period_to, quantity, unit_price, amount, tiers) values ${values.join(', ')}`,
      params,
    );
  }

  async function issueIn(tx: Db, id: string): Promise<void> {
    const row = await invoiceRow(tx, id, true);
    if (!row) throw problems.notFound(`No invoice ${id}.`);
    if (row.status !== 'draft')
      throw problems.conflict(`Invoice ${row.number ?? id} is ${row.status}, not a draft.`);
    const now = clock.now();
    const number = await nextInvoiceNumber(tx);
    const netDays = termDays();
    const due = new Date(now.getTime() + netDays * DAY);
    const zero = new Decimal(row.amount_due).lte(0);
    await sqlRows(
      tx,
      `update billing_invoices set status = $2, number = $3, issued_at = $4, due_at = $5, paid_at = $6 where id = $1`,
      [id, zero ? 'paid' : 'issued', number, now, due, zero ? now : null],
    );
    // With the change: a failed event write rolls the issue back (the invoice stays a draft).
    const issued = summary(await mustLoad(id, tx));
    await events.enqueue(tx, 'invoice.issued', { invoice: issued });
    if (zero) await events.enqueue(tx, 'invoice.paid', { invoice: issued });
  }

  /** The mail and the first charge after `issueIn` committed. */
  async function afterIssue(id: string): Promise<Invoice> {
    const invoice = await mustLoad(id);
    await documentMails.invoiceIssued(
      invoice,
      invoice.status === 'issued' && rail.collection === 'automatic',
    );
    if (invoice.status !== 'paid' && rail.collection === 'automatic') await collect(id);
    return (await load(id)) as Invoice;
  }

  /**
   * The billing run's common case (no credits to draw) for many subscriptions in one SQL
   * statement, all or nothing: numbers (consecutive, in the given order), invoices, lines and
   * first charge attempts. Invoices whose key exists are left out (null in the result).
   */
  async function createAndIssueMany(inputs: InvoiceInput[]): Promise<Map<string, Created | null>> {
    const out = new Map<string, Created | null>();
    if (inputs.length === 0) return out;
    const now = clock.now();
    const netDays = termDays();
    const taxRate = deps.taxRate();
    const prepared = inputs.map((input) => {
      const digits = minorUnits(input.currency);
      const { subtotal, tax, total } = totals(input.lines, input.currency, taxRate);
      const zero = total.lte(0);
      const id = newId('inv');
      return {
        input,
        id,
        status: (zero ? 'paid' : 'issued') as InvoiceStatus,
        charge: !zero && rail.collection === 'automatic',
        paymentId: newId('pay'),
        paymentKey: `inv:${id}:attempt:1`,
        subtotal: subtotal.toFixed(digits),
        tax: tax.toFixed(digits),
        total: total.toFixed(digits),
        zero,
      };
    });
    const invoices = prepared.map((p, ord) => ({
      ord,
      key: p.input.key,
      id: p.id,
      customer_id: p.input.customerId,
      subscription_id: p.input.subscriptionId,
      status: p.status,
      currency: p.input.currency,
      period_from: p.input.period.from,
      period_to: p.input.period.to,
      subtotal: p.subtotal,
      tax: p.tax,
      total: p.total,
      paid_at: p.zero ? now : null,
      payment_attempts: p.charge ? 1 : 0,
      metadata: p.input.metadata ?? {},
    }));
    const lines = prepared.flatMap((p) =>
      p.input.lines.map((l, i) => ({
        invoice_id: p.id,
        position: i + 1,
        key: l.key,
        kind: l.kind,
        description: l.description,
        rate_card_key: l.rateCardKey,
        feature_key: l.featureKey,
        plan_key: l.planKey,
        plan_version: l.planVersion,
        period_from: l.periodFrom,
        period_to: l.periodTo,
        quantity: l.quantity,
        unit_price: l.unitPrice,
        amount: l.amount,
        tiers: l.tiers ?? null,
      })),
    );
    const payments = prepared
      .filter((p) => p.charge)
      .map((p) => ({
        id: p.paymentId,
        invoice_id: p.id,
        customer_id: p.input.customerId,
        idempotency_key: p.paymentKey,
        amount: p.total,
        currency: p.input.currency,
      }));
    // One transaction: the invoices and their events (in invoice order) commit together.
    await store.transaction(async (tx) => {
      const rows = await sqlRows<{ id: string; number: string }>(
        tx,
        `with v as (
           select * from jsonb_to_recordset($1::jsonb) as v(ord int, key text, id text, customer_id text, subscription_id text,
             status text, currency text, period_from timestamptz, period_to timestamptz, subtotal numeric, tax numeric, total numeric,
             paid_at timestamptz, payment_attempts int, metadata jsonb)
         ), fresh as (
           select v.*, row_number() over (order by v.ord) as n, count(*) over () as k from v
           where not exists (select 1 from billing_invoices i where i.idempotency_key = v.key)
         ), num as (
           insert into billing_counters (name, value) select 'invoice', k from fresh limit 1
           on conflict (name) do update set value = billing_counters.value + excluded.value returning value
         ), inv as (
           insert into billing_invoices (idempotency_key, id, customer_id, subscription_id, status, currency, period_from, period_to,
             subtotal, tax_rate, tax, total, credits_applied, amount_due, rail, issued_at, due_at, paid_at, payment_attempts, metadata,
             created_at, number)
           select f.key, f.id, f.customer_id, f.subscription_id, f.status, f.currency, f.period_from, f.period_to, f.subtotal,
             $4::numeric, f.tax, f.total, 0, f.total, $5, $6, $7, f.paid_at, f.payment_attempts, f.metadata, $6,
             'INV-' || lpad((num.value - f.k + f.n)::text, 6, '0')
           from fresh f, num order by f.ord
           on conflict (idempotency_key) do nothing returning id, number
         ), lines as (
           insert into billing_invoice_lines (invoice_id, position, key, kind, description, rate_card_key, feature_key, plan_key,
             plan_version, period_from, period_to, quantity, unit_price, amount, tiers)
           select l.* from jsonb_to_recordset($2::jsonb) as l(invoice_id text, position int, key text, kind text, description text,
             rate_card_key text, feature_key text, plan_key text, plan_version int, period_from timestamptz, period_to timestamptz,
             quantity numeric, unit_price numeric, amount numeric, tiers jsonb)
           where l.invoice_id in (select id from inv)
         ), pay as (
           insert into billing_payments (id, invoice_id, customer_id, idempotency_key, purpose, rail, status, amount, currency, created_at, updated_at)
           select p.id, p.invoice_id, p.customer_id, p.idempotency_key, 'invoice', $5, 'pending', p.amount, p.currency, $6, $6
           from jsonb_to_recordset($3::jsonb) as p(id text, invoice_id text, customer_id text, idempotency_key text, amount numeric, currency text)
           where p.invoice_id in (select id from inv)
         )
         select id, number from inv`,
        [
          JSON.stringify(invoices),
          JSON.stringify(lines),
          JSON.stringify(payments),
          taxRate,
          rail.name,
          now,
          new Date(now.getTime() + netDays * DAY),
        ],
      );
      const numbers = new Map(rows.map((r) => [r.id, r.number]));
      for (const p of prepared) {
        const number = numbers.get(p.id);
        out.set(
          p.input.key,
          number === undefined
            ? null
            : {
                id: p.id,
                number,
                status: p.status,
                customerId: p.input.customerId,
                subscriptionId: p.input.subscriptionId,
                currency: p.input.currency,
                total: p.total,
                amountDue: p.total,
                periodFrom: p.input.period.from.toISOString(),
                periodTo: p.input.period.to.toISOString(),
                creditsApplied: formatMoney(0, p.input.currency),
                payment: p.charge
                  ? {
                      id: p.paymentId,
                      invoice_id: p.id,
                      customer_id: p.input.customerId,
                      idempotency_key: p.paymentKey,
                      purpose: 'invoice',
                      rail: rail.name,
                      status: 'pending',
                      amount: p.total,
                      currency: p.input.currency,
                      rail_ref: null,
                      failure_code: null,
                      failure_message: null,
                      created_at: now,
                    }
                  : null,
              },
        );
      }
      for (const created of out.values()) if (created) await enqueueIssued(tx, created);
    });
    return out;
  }

  /** Marks an issued (or uncollectible) invoice paid; false when it was not payable. */
  async function settlePaid(id: string, paidOptions: { paymentId?: string } = {}): Promise<boolean> {
    // One transaction: the invoice paid, its manual payment and the invoice.paid event (outbox).
    const row = await store.transaction(async (tx) => {
      const [paidRow] = await sqlRows<PaidRow>(
        tx,
        `update billing_invoices set status = 'paid', paid_at = $2, next_payment_attempt_at = null
         where id = $1 and status in ('issued', 'uncollectible') returning ${PAID_RETURNING}`,
        [id, clock.now()],
      );
      if (!paidRow) return null;
      if (!paidOptions.paymentId && rail.collection === 'manual') {
        await sqlRows(
          tx,
          `insert into billing_payments (id, invoice_id, customer_id, idempotency_key, purpose, rail, status, amount, currency, created_at, updated_at)
           values ($1, $2, $3, $4, 'invoice', 'manual', 'succeeded', $5, $6, $7, $7) on conflict (idempotency_key) do nothing`,
          [
            newId('pay'),
            id,
            paidRow.customer_id,
            `inv:${id}:manual`,
            paidRow.amount_due,
            paidRow.currency,
            clock.now(),
          ],
        );
      }
      await events.enqueue(tx, 'invoice.paid', { invoice: paidSummary(paidRow) });
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

  function paidSummary(row: PaidRow) {
    const digits = minorUnits(row.currency);
    return {
      id: row.id,
      number: row.number,
      customerId: row.customer_id,
      subscriptionId: row.subscription_id,
      status: 'paid',
      currency: row.currency,
      total: new Decimal(row.total).toFixed(digits),
      amountDue: new Decimal(row.amount_due).toFixed(digits),
      periodFrom: new Date(row.period_from).toISOString(),
      periodTo: new Date(row.period_to).toISOString(),
    };
  }

  /**
   * The receipt and a reactivation after an invoice was paid. Its `invoice.paid` was written with
   * the change (`enqueuePaid`), always: `_enqueued` is what callers once said about that, and unused.
   */
  async function afterPaid(row: PaidRow, _enqueued = true): Promise<void> {
    const paid = paidSummary(row);
    await documentMails.paymentReceipt(paid, clock.now());
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
    const [open] = await sqlRows<{ n: number }>(
      db,
      `select count(*)::int as n from billing_invoices where subscription_id = $1 and status = 'issued' and first_failed_at is not null`,
      [sub.id],
    );
    if ((open?.n ?? 0) > 0) return;
    await subscriptions.reactivate(sub.id); // emits subscription.reactivated with the change
  }

  async function transition(id: string, to: InvoiceStatus, allowed: InvoiceStatus[]): Promise<Invoice> {
    const changed = await store.transaction(async (tx) => {
      const rows = await sqlRows<{ id: string }>(
        tx,
        `update billing_invoices set status = $2, voided_at = case when $2 = 'void' then $3 else voided_at end,
           next_payment_attempt_at = null
         where id = $1 and status = any($4::text[]) returning id`,
        [id, to, clock.now(), allowed],
      );
      if (rows.length === 0) return null;
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
    load,
    mustLoad,
    createAndIssue,
    createAndIssueMany,
    afterCreated,
    issueIn,
    afterIssue,
    settlePaid,
    enqueuePaid,
    afterPaid,
    async list(filter: InvoiceFilter = {}): Promise<Invoice[]> {
      const rows = await listInvoiceRows(db, filter);
      const lines = await invoiceLines(
        db,
        rows.map((r) => r.id),
      );
      return rows.map((r) =>
        toInvoice(
          r,
          lines.filter((l) => l.invoice_id === r.id),
          minorUnits(r.currency),
        ),
      );
    },
    /** By id (`inv_…`) or number (`INV-000123`). */
    async find(idOrNumber: string): Promise<Invoice> {
      if (/^INV-\d+$/i.test(idOrNumber)) {
        const [row] = await sqlRows<{ id: string }>(db, 'select id from billing_invoices where number = $1', [
          idOrNumber.toUpperCase(),
        ]);
        if (!row) throw problems.notFound(`No invoice ${idOrNumber}.`);
        return mustLoad(row.id);
      }
      return mustLoad(idOrNumber);
    },
    markPaid,
    void: (id: string) => transition(id, 'void', ['draft', 'issued', 'uncollectible']),
    markUncollectible: (id: string) => transition(id, 'uncollectible', ['issued']),
    async issue(id: string): Promise<Invoice> {
      await store.transaction((tx) => issueIn(tx, id));
      return afterIssue(id);
    },
    /** A manual invoice (admin): lines given as amounts; created as a draft unless `issue`. */
    async createManualInvoice(input: {
      customerId: string;
      currency: string;
      lines: { description: string; quantity?: string; unitPrice: string }[];
      issue?: boolean;
    }): Promise<Invoice> {
      const now = clock.now();
      const lines: RatedLine[] = input.lines.map((l, i) => {
        const quantity = new Decimal(l.quantity ?? 1);
        return {
          key: `manual:${i}`,
          kind: 'flat',
          rateCardKey: 'manual',
          featureKey: null,
          planKey: 'manual',
          planVersion: 0,
          description: l.description,
          periodFrom: now,
          periodTo: now,
          timing: 'in_advance',
          quantity: quantity.toString(),
          unitPrice: new Decimal(l.unitPrice).toString(),
          amount: formatMoney(quantity.mul(l.unitPrice), input.currency),
        };
      });
      const created = (await createAndIssue({
        key: newId('manual'),
        customerId: input.customerId,
        subscriptionId: null,
        currency: input.currency,
        period: { from: now, to: now },
        lines,
        applyCredits: false,
        issue: input.issue === true,
      })) as Created;
      await afterCreated(created);
      return mustLoad(created.id);
    },
  };
}
