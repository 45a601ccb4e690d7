import { Decimal, minorUnits } from '../../util/money.ts';
import { type Db, iso, sqlRows } from '../model.ts';
import type { CreditNote, CreditNoteReason } from './model.ts';
import type { PlannedCreditNote, PriorCredit } from './rules.ts';

/** SQL for credit notes. Money is read as text, so nothing passes through a float. */
interface CreditNoteRow {
  id: string;
  number: string;
  invoice_id: string;
  invoice_number: string | null;
  customer_id: string;
  currency: string;
  status: 'issued' | 'void';
  reason: CreditNoteReason;
  memo: string | null;
  subtotal: string;
  tax: string;
  total: string;
  refund_amount: string;
  credit_amount: string;
  out_of_band_amount: string;
  refund_payment_id: string | null;
  refund_status: 'pending' | 'succeeded' | 'failed' | null;
  refund_rail_ref: string | null;
  issued_at: Date | string;
}

interface CreditNoteLineRow {
  credit_note_id: string;
  position: number;
  invoice_line_position: number | null;
  description: string;
  quantity: string | null;
  amount: string;
}

const SELECT = `select n.id, n.number, n.invoice_id, i.number as invoice_number, n.customer_id, n.currency, n.status, n.reason,
    n.memo, n.subtotal::text as subtotal, n.tax::text as tax, n.total::text as total, n.refund_amount::text as refund_amount,
    n.credit_amount::text as credit_amount, n.out_of_band_amount::text as out_of_band_amount, n.refund_payment_id,
    p.status as refund_status, p.rail_ref as refund_rail_ref, n.issued_at
  from billing_credit_notes n
  join billing_invoices i on i.id = n.invoice_id
  left join billing_payments p on p.id = n.refund_payment_id`;

function toCreditNote(row: CreditNoteRow, lines: CreditNoteLineRow[]): CreditNote {
  const digits = minorUnits(row.currency);
  const m = (v: string) => new Decimal(v).toFixed(digits);
  return {
    id: row.id,
    number: row.number,
    invoiceId: row.invoice_id,
    invoiceNumber: row.invoice_number,
    customerId: row.customer_id,
    currency: row.currency,
    status: row.status,
    reason: row.reason,
    memo: row.memo,
    subtotal: m(row.subtotal),
    tax: m(row.tax),
    total: m(row.total),
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

async function withLines(db: Db, rows: CreditNoteRow[]): Promise<CreditNote[]> {
  if (rows.length === 0) return [];
  const lines = await sqlRows<CreditNoteLineRow>(
    db,
    `select credit_note_id, position, invoice_line_position, description, quantity::text as quantity, amount::text as amount
     from billing_credit_note_lines where credit_note_id = any($1::text[]) order by credit_note_id, position`,
    [rows.map((r) => r.id)],
  );
  return rows.map((r) => toCreditNote(r, lines));
}

export async function creditNoteById(db: Db, id: string): Promise<CreditNote | null> {
  const rows = await sqlRows<CreditNoteRow>(db, `${SELECT} where n.id = $1 or n.number = $1`, [id]);
  return (await withLines(db, rows))[0] ?? null;
}

export async function listCreditNotes(
  db: Db,
  filter: { invoiceId?: string; customerId?: string; limit?: number; offset?: number },
): Promise<CreditNote[]> {
  const rows = await sqlRows<CreditNoteRow>(
    db,
    `${SELECT} where ($1::text is null or n.invoice_id = $1) and ($2::text is null or n.customer_id = $2)
     order by n.issued_at desc, n.number desc limit $3 offset $4`,
    [filter.invoiceId ?? null, filter.customerId ?? null, filter.limit ?? 100, filter.offset ?? 0],
  );
  return withLines(db, rows);
}

/** What earlier credit notes and payments did to an invoice (read under the invoice's row lock). */
export async function priorCredit(db: Db, invoiceId: string): Promise<PriorCredit> {
  const [sums] = await sqlRows<{ credited: string; paid: string; refunded: string }>(
    db,
    `select
       (select coalesce(sum(total), 0)::text from billing_credit_notes where invoice_id = $1 and status = 'issued') as credited,
       (select coalesce(sum(amount), 0)::text from billing_payments where invoice_id = $1 and purpose = 'invoice' and status = 'succeeded') as paid,
       (select coalesce(sum(amount), 0)::text from billing_payments where invoice_id = $1 and purpose = 'refund' and status <> 'failed') as refunded`,
    [invoiceId],
  );
  const byLine = await sqlRows<{ position: number; amount: string }>(
    db,
    `select l.invoice_line_position as position, sum(l.amount)::text as amount
     from billing_credit_note_lines l join billing_credit_notes n on n.id = l.credit_note_id
     where n.invoice_id = $1 and n.status = 'issued' and l.invoice_line_position is not null
     group by l.invoice_line_position`,
    [invoiceId],
  );
  return {
    creditedTotal: sums?.credited ?? '0',
    paid: sums?.paid ?? '0',
    refunded: sums?.refunded ?? '0',
    creditedByLine: new Map(byLine.map((r) => [r.position, r.amount])),
  };
}

export async function nextCreditNoteNumber(db: Db): Promise<string> {
  const [row] = await sqlRows<{ value: string | number }>(
    db,
    `insert into billing_counters (name, value) values ('credit_note', 1)
     on conflict (name) do update set value = billing_counters.value + 1 returning value`,
  );
  return `CN-${String(row?.value ?? 1).padStart(6, '0')}`;
}

export async function insertCreditNote(
  db: Db,
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
  await sqlRows(
    db,
    `insert into billing_credit_notes (id, number, invoice_id, customer_id, currency, status, reason, memo, subtotal, tax, total,
       refund_amount, credit_amount, out_of_band_amount, refund_payment_id, issued_at, created_at)
     values ($1, $2, $3, $4, $5, 'issued', $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $15)`,
    [
      note.id,
      note.number,
      note.invoiceId,
      note.customerId,
      note.currency,
      note.reason,
      note.memo,
      plan.subtotal,
      plan.tax,
      plan.total,
      plan.refundAmount,
      plan.creditAmount,
      plan.outOfBandAmount,
      note.refundPaymentId,
      note.issuedAt,
    ],
  );
  const params: unknown[] = [];
  const values = plan.lines.map((l, i) => {
    params.push(note.id, i + 1, l.invoiceLinePosition, l.description, l.quantity, l.amount);
    const b = i * 6;
    return `($${b + 1}, $${b + 2}, $${b + 3}, $${b + 4}, $${b + 5}, $${b + 6})`;
  });
  await sqlRows(
    db,
    `insert into billing_credit_note_lines (credit_note_id, position, invoice_line_position, description, quantity, amount)
     values ${values.join(', ')}`,
    params,
  );
}
