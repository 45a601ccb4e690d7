import { type RawBuilder, sql } from 'kysely';
import { newId } from '../../util/ids.ts';
import { formatMoney, minorUnits } from '../../util/money.ts';
import { type BillingDeps, DAY } from '../deps.ts';
import type { Db, InvoiceStatus } from '../model.ts';
import type { RatedLine } from '../rating.ts';
import { type Created, firstAttempt, firstAttemptKey, type InvoiceInput, totals } from './model.ts';

/**
 * The billing run's common case (no credits to draw) as single SQL statements, each atomic on its
 * own: numbers, invoices, lines and first charge attempts. Written with Kysely's `sql` template
 * (values are parameters) because the query builder cannot say an insert that takes its number
 * from the counter's upsert and is skipped when the key exists, in one statement.
 */
export type InvoiceStatements = ReturnType<typeof createInvoiceStatements>;

export function createInvoiceStatements(
  deps: Pick<BillingDeps, 'store' | 'clock' | 'rail' | 'taxRate'>,
  parts: {
    /** Days until an issued invoice is due. */
    termDays(): number;
    /** `invoice.issued` (and `invoice.paid`) with the transaction that wrote the invoice. */
    enqueueIssued(tx: Db, created: Created): Promise<void>;
  },
) {
  const { store, clock, rail } = deps;
  const { termDays, enqueueIssued } = parts;

  /**
   * One invoice. The counter only moves when no invoice with the key exists; two runners
   * inserting the same key at the same instant (which the run's lock prevents) could leave one
   * number unused. Null when an invoice with the key exists.
   */
  async function createAndIssueInOneStatement(input: InvoiceInput, now: Date): Promise<Created | null> {
    const digits = minorUnits(input.currency);
    const id = newId('inv');
    const taxRate = deps.taxRate();
    const { subtotal, tax, total } = totals(input.lines, input.currency, taxRate);
    const zero = total.lte(0);
    const status: InvoiceStatus = zero ? 'paid' : 'issued';
    const charge = !zero && rail.collection === 'automatic';
    const paymentId = newId('pay');
    const amount = total.toFixed(digits);
    const lineValues = input.lines.map((l, i) => lineValue(i + 1, l));
    const linesCte =
      lineValues.length === 0
        ? sql.raw('')
        : sql`, lines as (
            insert into billing_invoice_lines (invoice_id, position, key, kind, description, rate_card_key, feature_key, plan_key,
              plan_version, period_from, period_to, quantity, unit_price, amount, tiers)
            select inv.id, v.* from inv, (values ${sql.join(lineValues)}) as v
          )`;
    const payCte = charge
      ? sql`, pay as (
            insert into billing_payments (id, invoice_id, customer_id, idempotency_key, purpose, rail, status, amount, currency, created_at, updated_at)
            select ${paymentId}::text, inv.id, ${input.customerId}::text, ${firstAttemptKey(id)}::text, 'invoice', ${rail.name}::text,
              'pending', ${amount}::numeric, ${input.currency}::text, ${now}::timestamptz, ${now}::timestamptz from inv
          )`
      : sql.raw('');
    return store.transaction(async (tx) => {
      const { rows } = await sql<{ id: string; number: string }>`with num as (
         insert into billing_counters (name, value)
         select 'invoice', 1 where not exists (select 1 from billing_invoices where idempotency_key = ${input.key})
         on conflict (name) do update set value = billing_counters.value + 1 returning value
       ), inv as (
         insert into billing_invoices (idempotency_key, id, customer_id, subscription_id, status, currency, period_from, period_to,
           subtotal, tax_rate, tax, total, credits_applied, amount_due, rail, issued_at, due_at, paid_at, payment_attempts, metadata,
           created_at, number)
         select ${input.key}::text, ${id}::text, ${input.customerId}::text, ${input.subscriptionId}::text, ${status}::text,
           ${input.currency}::text, ${input.period.from}::timestamptz, ${input.period.to}::timestamptz,
           ${subtotal.toFixed(digits)}::numeric, ${taxRate}::numeric, ${tax.toFixed(digits)}::numeric, ${amount}::numeric, 0,
           ${amount}::numeric, ${rail.name}::text, ${now}::timestamptz, ${new Date(now.getTime() + termDays() * DAY)}::timestamptz,
           ${zero ? now : null}::timestamptz, ${charge ? 1 : 0}::int, ${JSON.stringify(input.metadata ?? {})}::jsonb,
           ${now}::timestamptz, 'INV-' || lpad(num.value::text, 6, '0') from num
         on conflict (idempotency_key) do nothing returning id, number
       )${linesCte}${payCte}
       select id, number from inv`.execute(tx);
      const row = rows[0];
      if (!row) return null;
      const created: Created = {
        id,
        number: row.number,
        status,
        customerId: input.customerId,
        subscriptionId: input.subscriptionId,
        currency: input.currency,
        total: amount,
        amountDue: amount,
        periodFrom: input.period.from.toISOString(),
        periodTo: input.period.to.toISOString(),
        creditsApplied: formatMoney(0, input.currency),
        payment: charge
          ? firstAttempt({
              id: paymentId,
              invoiceId: id,
              customerId: input.customerId,
              rail: rail.name,
              amount,
              currency: input.currency,
              now,
            })
          : null,
      };
      // The same transaction: the invoice and its events commit together or not at all.
      await enqueueIssued(tx, created);
      return created;
    });
  }

  /**
   * Many subscriptions' invoices in one statement, all or nothing: numbers (consecutive, in the
   * given order), invoices, lines and first charge attempts, and their events in the same
   * transaction. Invoices whose key exists are left out (null in the result).
   */
  async function createAndIssueMany(inputs: InvoiceInput[]): Promise<Map<string, Created | null>> {
    const out = new Map<string, Created | null>();
    if (inputs.length === 0) return out;
    const now = clock.now();
    const taxRate = deps.taxRate();
    const prepared = inputs.map((input): Prepared => {
      const digits = minorUnits(input.currency);
      const { subtotal, tax, total } = totals(input.lines, input.currency, taxRate);
      const zero = total.lte(0);
      return {
        input,
        id: newId('inv'),
        status: zero ? 'paid' : 'issued',
        charge: !zero && rail.collection === 'automatic',
        paymentId: newId('pay'),
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
    const lines = prepared.flatMap((p) => p.input.lines.map((l, i) => lineRecord(p.id, i + 1, l)));
    const payments = prepared
      .filter((p) => p.charge)
      .map((p) => ({
        id: p.paymentId,
        invoice_id: p.id,
        customer_id: p.input.customerId,
        idempotency_key: firstAttemptKey(p.id),
        amount: p.total,
        currency: p.input.currency,
      }));
    const due = new Date(now.getTime() + termDays() * DAY);
    await store.transaction(async (tx) => {
      const { rows } = await manyStatement({
        invoices,
        lines,
        payments,
        taxRate,
        rail: rail.name,
        now,
        due,
      }).execute(tx);
      const numbers = new Map(rows.map((r) => [r.id, r.number]));
      for (const p of prepared) {
        const number = numbers.get(p.id);
        out.set(p.input.key, number === undefined ? null : createdOf(p, number, now));
      }
      // One transaction: the invoices and their events (in invoice order) commit together.
      for (const created of out.values()) if (created) await enqueueIssued(tx, created);
    });
    return out;
  }

  /** A prepared invoice the statement wrote, with its number. */
  function createdOf(p: Prepared, number: string, now: Date): Created {
    return {
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
        ? firstAttempt({
            id: p.paymentId,
            invoiceId: p.id,
            customerId: p.input.customerId,
            rail: rail.name,
            amount: p.total,
            currency: p.input.currency,
            now,
          })
        : null,
    };
  }

  return { createAndIssueInOneStatement, createAndIssueMany };
}

/** An invoice of the many-invoices statement, its amounts computed. */
interface Prepared {
  input: InvoiceInput;
  id: string;
  status: InvoiceStatus;
  charge: boolean;
  paymentId: string;
  subtotal: string;
  tax: string;
  total: string;
  zero: boolean;
}

/** One line as a `values` row of the one-invoice statement (after the invoice id). */
function lineValue(position: number, l: RatedLine): RawBuilder<unknown> {
  return sql`(${position}::int, ${l.key}::text, ${l.kind}::text, ${l.description}::text, ${l.rateCardKey}::text,
    ${l.featureKey}::text, ${l.planKey}::text, ${l.planVersion}::int, ${l.periodFrom}::timestamptz, ${l.periodTo}::timestamptz,
    ${l.quantity}::numeric, ${l.unitPrice}::numeric, ${l.amount}::numeric, ${l.tiers ? JSON.stringify(l.tiers) : null}::jsonb)`;
}

/** One line as a row of `billing_invoice_lines` (tiers as a value; the one-invoice insert stringifies them). */
export function lineRecord(invoiceId: string, position: number, l: RatedLine) {
  return {
    invoice_id: invoiceId,
    position,
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
  };
}

/** Invoices, lines and payments arrive as JSON records; numbers follow `ord` among the new ones. */
function manyStatement(input: {
  invoices: unknown[];
  lines: unknown[];
  payments: unknown[];
  taxRate: string | null;
  rail: string;
  now: Date;
  due: Date;
}) {
  const { taxRate, rail, now, due } = input;
  return sql<{ id: string; number: string }>`with v as (
       select * from jsonb_to_recordset(${JSON.stringify(input.invoices)}::jsonb) as v(ord int, key text, id text, customer_id text,
         subscription_id text, status text, currency text, period_from timestamptz, period_to timestamptz, subtotal numeric,
         tax numeric, total numeric, paid_at timestamptz, payment_attempts int, metadata jsonb)
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
         ${taxRate}::numeric, f.tax, f.total, 0, f.total, ${rail}::text, ${now}::timestamptz, ${due}::timestamptz, f.paid_at,
         f.payment_attempts, f.metadata, ${now}::timestamptz, 'INV-' || lpad((num.value - f.k + f.n)::text, 6, '0')
       from fresh f, num order by f.ord
       on conflict (idempotency_key) do nothing returning id, number
     ), lines as (
       insert into billing_invoice_lines (invoice_id, position, key, kind, description, rate_card_key, feature_key, plan_key,
         plan_version, period_from, period_to, quantity, unit_price, amount, tiers)
       select l.* from jsonb_to_recordset(${JSON.stringify(input.lines)}::jsonb) as l(invoice_id text, position int, key text,
         kind text, description text, rate_card_key text, feature_key text, plan_key text, plan_version int,
         period_from timestamptz, period_to timestamptz, quantity numeric, unit_price numeric, amount numeric, tiers jsonb)
       where l.invoice_id in (select id from inv)
     ), pay as (
       insert into billing_payments (id, invoice_id, customer_id, idempotency_key, purpose, rail, status, amount, currency, created_at, updated_at)
       select p.id, p.invoice_id, p.customer_id, p.idempotency_key, 'invoice', ${rail}::text, 'pending', p.amount, p.currency,
         ${now}::timestamptz, ${now}::timestamptz
       from jsonb_to_recordset(${JSON.stringify(input.payments)}::jsonb) as p(id text, invoice_id text, customer_id text,
         idempotency_key text, amount numeric, currency text)
       where p.invoice_id in (select id from inv)
     )
     select id, number from inv`;
}
