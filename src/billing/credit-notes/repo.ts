import { sql } from 'kysely';
import { Decimal, minorUnits } from '../../util/money.ts';
import { type Db, iso } from '../model.ts';
import type { CreditNote, CreditNoteReason } from './model.ts';
import { creditNoteType, type PlannedCreditNote, type PriorCredit } from './rules.ts';
import { type CreditNoteDb, creditNoteDb } from './tables.ts';

/** Reading and writing credit notes. Money is read as text, so nothing passes through a float. */
const text = (column: string) => sql<string>`cast(${sql.ref(column)} as text)`;

function selectNotes(db: CreditNoteDb) {
  return db
    .selectFrom('billing_credit_notes as n')
    .innerJoin('billing_invoices as i', 'i.id', 'n.invoice_id')
    .leftJoin('billing_payments as p', 'p.id', 'n.refund_payment_id')
    .select([
      'n.id',
      'n.number',
      'n.invoice_id',
      'i.number as invoice_number',
      'n.customer_id',
      'n.currency',
      'n.status',
      'n.reason',
      'n.memo',
      text('n.subtotal').as('subtotal'),
      text('n.tax').as('tax'),
      text('n.total').as('total'),
      text('n.pre_payment_amount').as('pre_payment_amount'),
      text('n.refund_amount').as('refund_amount'),
      text('n.credit_amount').as('credit_amount'),
      text('n.out_of_band_amount').as('out_of_band_amount'),
      'n.refund_payment_id',
      'p.status as refund_status',
      'p.rail_ref as refund_rail_ref',
      'n.issued_at',
      'n.voided_at',
    ]);
}

type CreditNoteRow = Awaited<ReturnType<ReturnType<typeof selectNotes>['execute']>>[number];

async function linesOf(db: CreditNoteDb, ids: string[]) {
  return db
    .selectFrom('billing_credit_note_lines')
    .select([
      'credit_note_id',
      'position',
      'invoice_line_position',
      'description',
      sql<string | null>`cast(quantity as text)`.as('quantity'),
      text('amount').as('amount'),
    ])
    .where('credit_note_id', 'in', ids)
    .orderBy('credit_note_id')
    .orderBy('position')
    .execute();
}

type CreditNoteLineRow = Awaited<ReturnType<typeof linesOf>>[number];

function toCreditNote(row: CreditNoteRow, lines: CreditNoteLineRow[]): CreditNote {
  const digits = minorUnits(row.currency);
  const m = (v: string | Decimal) => new Decimal(v).toFixed(digits);
  const post = new Decimal(row.refund_amount).add(row.credit_amount).add(row.out_of_band_amount);
  return {
    id: row.id,
    number: row.number,
    invoiceId: row.invoice_id,
    invoiceNumber: row.invoice_number,
    customerId: row.customer_id,
    currency: row.currency,
    status: row.status,
    type: creditNoteType(row.pre_payment_amount, row.total),
    reason: row.reason,
    memo: row.memo,
    subtotal: m(row.subtotal),
    tax: m(row.tax),
    total: m(row.total),
    prePaymentAmount: m(row.pre_payment_amount),
    postPaymentAmount: m(post),
    refundAmount: m(row.refund_amount),
    creditAmount: m(row.credit_amount),
    outOfBandAmount: m(row.out_of_band_amount),
    refund:
      row.refund_payment_id && row.refund_status
        ? {
            id: row.refund_payment_id,
            status:
              row.refund_status === 'succeeded' || row.refund_status === 'failed'
                ? row.refund_status
                : 'pending',
            railRef: row.refund_rail_ref,
          }
        : null,
    issuedAt: iso(row.issued_at) as string,
    voidedAt: iso(row.voided_at),
    lines: lines
      .filter((l) => l.credit_note_id === row.id)
      .map((l) => ({
        position: l.position,
        invoiceLinePosition: l.invoice_line_position,
        description: l.description,
        quantity: l.quantity === null ? null : new Decimal(l.quantity).toString(),
        amount: m(l.amount),
      })),
  };
}

async function withLines(db: CreditNoteDb, rows: CreditNoteRow[]): Promise<CreditNote[]> {
  if (rows.length === 0) return [];
  const lines = await linesOf(
    db,
    rows.map((r) => r.id),
  );
  return rows.map((r) => toCreditNote(r, lines));
}

export async function creditNoteById(on: Db, id: string): Promise<CreditNote | null> {
  const db = creditNoteDb(on);
  const rows = await selectNotes(db)
    .where((eb) => eb.or([eb('n.id', '=', id), eb('n.number', '=', id)]))
    .execute();
  return (await withLines(db, rows))[0] ?? null;
}

/** The credit note under a row lock (voiding it), or null. */
export async function lockCreditNote(on: Db, id: string): Promise<{ id: string; invoiceId: string } | null> {
  const row = await creditNoteDb(on)
    .selectFrom('billing_credit_notes')
    .select(['id', 'invoice_id'])
    .where((eb) => eb.or([eb('id', '=', id), eb('number', '=', id)]))
    .forUpdate()
    .executeTakeFirst();
  return row ? { id: row.id, invoiceId: row.invoice_id } : null;
}

export async function listCreditNotes(
  on: Db,
  filter: { invoiceId?: string; customerId?: string; limit?: number; offset?: number },
): Promise<CreditNote[]> {
  const db = creditNoteDb(on);
  let query = selectNotes(db);
  if (filter.invoiceId !== undefined) query = query.where('n.invoice_id', '=', filter.invoiceId);
  if (filter.customerId !== undefined) query = query.where('n.customer_id', '=', filter.customerId);
  const rows = await query
    .orderBy('n.issued_at', 'desc')
    .orderBy('n.number', 'desc')
    .limit(filter.limit ?? 100)
    .offset(filter.offset ?? 0)
    .execute();
  return withLines(db, rows);
}

/** What earlier credit notes and payments did to an invoice (read under the invoice's row lock). */
export async function priorCredit(on: Db, invoiceId: string): Promise<PriorCredit> {
  const db = creditNoteDb(on);
  const credited = await db
    .selectFrom('billing_credit_notes')
    .select(sql<string>`cast(coalesce(sum(total), 0) as text)`.as('sum'))
    .where('invoice_id', '=', invoiceId)
    .where('status', '=', 'issued')
    .executeTakeFirst();
  const payments = (purpose: 'invoice' | 'refund') => {
    const query = db
      .selectFrom('billing_payments')
      .select(sql<string>`cast(coalesce(sum(amount), 0) as text)`.as('sum'))
      .where('invoice_id', '=', invoiceId)
      .where('purpose', '=', purpose);
    return (
      purpose === 'invoice' ? query.where('status', '=', 'succeeded') : query.where('status', '<>', 'failed')
    ).executeTakeFirst();
  };
  const byLine = await db
    .selectFrom('billing_credit_note_lines as l')
    .innerJoin('billing_credit_notes as n', 'n.id', 'l.credit_note_id')
    .select(['l.invoice_line_position as position', sql<string>`cast(sum(l.amount) as text)`.as('amount')])
    .where('n.invoice_id', '=', invoiceId)
    .where('n.status', '=', 'issued')
    .where('l.invoice_line_position', 'is not', null)
    .groupBy('l.invoice_line_position')
    .execute();
  const creditedByLine = new Map<number, string>();
  for (const r of byLine) if (r.position !== null) creditedByLine.set(r.position, r.amount);
  return {
    creditedTotal: credited?.sum ?? '0',
    paid: (await payments('invoice'))?.sum ?? '0',
    refunded: (await payments('refund'))?.sum ?? '0',
    creditedByLine,
  };
}

/** A charge of the invoice sent to the rail and not answered yet (its amount is fixed). */
export async function pendingCharge(on: Db, invoiceId: string): Promise<string | null> {
  const row = await creditNoteDb(on)
    .selectFrom('billing_payments')
    .select(text('amount').as('amount'))
    .where('invoice_id', '=', invoiceId)
    .where('purpose', '=', 'invoice')
    .where('status', '=', 'pending')
    .executeTakeFirst();
  return row?.amount ?? null;
}

export async function nextCreditNoteNumber(on: Db): Promise<string> {
  const row = await creditNoteDb(on)
    .insertInto('billing_counters')
    .values({ name: 'credit_note', value: 1 })
    .onConflict((oc) => oc.column('name').doUpdateSet({ value: sql`billing_counters.value + 1` }))
    .returning('value')
    .executeTakeFirst();
  return `CN-${String(row?.value ?? 1).padStart(6, '0')}`;
}

export async function insertCreditNote(
  on: Db,
  note: {
    id: string;
    number: string;
    invoiceId: string;
    customerId: string;
    currency: string;
    reason: CreditNoteReason;
    memo: string | null;
    refundPaymentId: string | null;
    issuedAt: Date;
  },
  plan: PlannedCreditNote,
): Promise<void> {
  const db = creditNoteDb(on);
  await db
    .insertInto('billing_credit_notes')
    .values({
      id: note.id,
      number: note.number,
      invoice_id: note.invoiceId,
      customer_id: note.customerId,
      currency: note.currency,
      status: 'issued',
      reason: note.reason,
      memo: note.memo,
      subtotal: plan.subtotal,
      tax: plan.tax,
      total: plan.total,
      pre_payment_amount: plan.prePaymentAmount,
      refund_amount: plan.refundAmount,
      credit_amount: plan.creditAmount,
      out_of_band_amount: plan.outOfBandAmount,
      refund_payment_id: note.refundPaymentId,
      issued_at: note.issuedAt,
      voided_at: null,
      created_at: note.issuedAt,
    })
    .execute();
  await db
    .insertInto('billing_credit_note_lines')
    .values(
      plan.lines.map((l, i) => ({
        credit_note_id: note.id,
        position: i + 1,
        invoice_line_position: l.invoiceLinePosition,
        description: l.description,
        quantity: l.quantity,
        amount: l.amount,
      })),
    )
    .execute();
}

export async function markCreditNoteVoid(on: Db, id: string, at: Date): Promise<void> {
  await creditNoteDb(on)
    .updateTable('billing_credit_notes')
    .set({ status: 'void', voided_at: at })
    .where('id', '=', id)
    .execute();
}

/**
 * Sets an issued invoice's amount due (a credit note took from it or gave back to it); at zero
 * the invoice is paid. Only billing's invoice columns the amount due decides are touched.
 */
export async function setAmountDue(
  on: Db,
  invoiceId: string,
  change: { amountDue: string; paid: boolean },
  at: Date,
): Promise<void> {
  const query = creditNoteDb(on)
    .updateTable('billing_invoices')
    .set({ amount_due: change.amountDue })
    .where('id', '=', invoiceId)
    .where('status', '=', 'issued');
  await (change.paid
    ? query.set({ status: 'paid', paid_at: at, next_payment_attempt_at: null })
    : query
  ).execute();
}
