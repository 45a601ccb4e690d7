import { Decimal } from '../util/money.ts';
import { type Db, type Invoice, type InvoiceLine, type InvoiceStatus, iso, sqlRows } from './model.ts';
import type { TierBreakdown } from './rating.ts';

/** SQL for invoices and payments. Money columns are read as text so nothing passes through a float. */
const INVOICE_COLUMNS = `id, number, customer_id, subscription_id, status, currency, period_from, period_to,
  subtotal::text as subtotal, tax_rate::text as tax_rate, tax::text as tax, total::text as total,
  credits_applied::text as credits_applied, amount_due::text as amount_due, rail, issued_at, due_at, paid_at,
  voided_at, payment_attempts, next_payment_attempt_at, last_payment_error, metadata, created_at, first_failed_at, payment_url`;

export interface InvoiceRow {
  id: string;
  number: string | null;
  customer_id: string;
  subscription_id: string | null;
  status: InvoiceStatus;
  currency: string;
  period_from: Date | string;
  period_to: Date | string;
  subtotal: string;
  tax_rate: string | null;
  tax: string;
  total: string;
  credits_applied: string;
  amount_due: string;
  rail: string | null;
  issued_at: Date | string | null;
  due_at: Date | string | null;
  paid_at: Date | string | null;
  voided_at: Date | string | null;
  payment_attempts: number;
  next_payment_attempt_at: Date | string | null;
  last_payment_error: string | null;
  metadata: Record<string, unknown> | string;
  created_at: Date | string;
  first_failed_at: Date | string | null;
  payment_url: string | null;
}

interface LineRow {
  invoice_id: string;
  position: number;
  key: string;
  kind: string;
  description: string;
  rate_card_key: string | null;
  feature_key: string | null;
  plan_key: string | null;
  plan_version: number | null;
  period_from: Date | string;
  period_to: Date | string;
  quantity: string;
  unit_price: string | null;
  amount: string;
  tiers: TierBreakdown[] | string | null;
}

function fixed(value: string, currencyDigits: number): string {
  return new Decimal(value).toFixed(currencyDigits);
}

export function toInvoice(row: InvoiceRow, lines: LineRow[], digits: number): Invoice {
  return {
    id: row.id,
    number: row.number,
    customerId: row.customer_id,
    subscriptionId: row.subscription_id,
    status: row.status,
    currency: row.currency,
    periodFrom: iso(row.period_from) as string,
    periodTo: iso(row.period_to) as string,
    subtotal: fixed(row.subtotal, digits),
    taxRate: row.tax_rate === null ? null : new Decimal(row.tax_rate).toString(),
    tax: fixed(row.tax, digits),
    total: fixed(row.total, digits),
    creditsApplied: fixed(row.credits_applied, digits),
    amountDue: fixed(row.amount_due, digits),
    rail: row.rail,
    issuedAt: iso(row.issued_at),
    dueAt: iso(row.due_at),
    paidAt: iso(row.paid_at),
    voidedAt: iso(row.voided_at),
    paymentAttempts: row.payment_attempts,
    nextPaymentAttemptAt: iso(row.next_payment_attempt_at),
    lastPaymentError: row.last_payment_error,
    // Only an invoice still to be paid has a link to pay it.
    paymentUrl: row.status === 'issued' ? (row.payment_url ?? null) : null,
    metadata: typeof row.metadata === 'string' ? JSON.parse(row.metadata) : (row.metadata ?? {}),
    createdAt: iso(row.created_at) as string,
    lines: lines
      .sort((a, b) => a.position - b.position)
      .map(
        (l): InvoiceLine => ({
          position: l.position,
          key: l.key,
          kind: l.kind,
          description: l.description,
          rateCardKey: l.rate_card_key,
          featureKey: l.feature_key,
          planKey: l.plan_key,
          planVersion: l.plan_version,
          periodFrom: iso(l.period_from) as string,
          periodTo: iso(l.period_to) as string,
          quantity: new Decimal(l.quantity).toString(),
          unitPrice: l.unit_price === null ? null : new Decimal(l.unit_price).toString(),
          amount: fixed(l.amount, digits),
          tiers: typeof l.tiers === 'string' ? JSON.parse(l.tiers) : l.tiers,
        }),
      ),
  };
}

export async function invoiceRow(db: Db, id: string, forUpdate = false): Promise<InvoiceRow | null> {
  const [row] = await sqlRows<InvoiceRow>(
    db,
    `select ${INVOICE_COLUMNS} from billing_invoices where id = $1${forUpdate ? ' for update' : ''}`,
    [id],
  );
  return row ?? null;
}

export async function invoiceRowByKey(db: Db, key: string): Promise<InvoiceRow | null> {
  const [row] = await sqlRows<InvoiceRow>(
    db,
    `select ${INVOICE_COLUMNS} from billing_invoices where idempotency_key = $1`,
    [key],
  );
  return row ?? null;
}

export async function invoiceLines(db: Db, ids: string[]): Promise<LineRow[]> {
  if (ids.length === 0) return [];
  return sqlRows<LineRow>(
    db,
    `select invoice_id, position, key, kind, description, rate_card_key, feature_key, plan_key, plan_version,
            period_from, period_to, quantity::text as quantity, unit_price::text as unit_price, amount::text as amount, tiers
     from billing_invoice_lines where invoice_id = any($1::text[])`,
    [ids],
  );
}

export interface InvoiceFilter {
  customerId?: string;
  subscriptionId?: string;
  status?: InvoiceStatus;
  limit?: number;
  offset?: number;
}

export async function listInvoiceRows(db: Db, filter: InvoiceFilter): Promise<InvoiceRow[]> {
  return sqlRows<InvoiceRow>(
    db,
    `select ${INVOICE_COLUMNS} from billing_invoices
     where ($1::text is null or customer_id = $1) and ($2::text is null or subscription_id = $2)
       and ($3::text is null or status = $3)
     order by created_at desc, id desc limit $4 offset $5`,
    [
      filter.customerId ?? null,
      filter.subscriptionId ?? null,
      filter.status ?? null,
      Math.min(filter.limit ?? 100, 1000),
      filter.offset ?? 0,
    ],
  );
}

/** Gapless: the counter row is updated in the issuing transaction, so a rollback frees the number. */
export async function nextInvoiceNumber(db: Db): Promise<string> {
  const [row] = await sqlRows<{ value: string | number }>(
    db,
    `insert into billing_counters (name, value) values ('invoice', 1)
     on conflict (name) do update set value = billing_counters.value + 1 returning value`,
  );
  return `INV-${String(row?.value ?? 1).padStart(6, '0')}`;
}

export interface RailCustomerRow {
  customer_id: string;
  rail: string;
  rail_customer_id: string;
  payment_method_id: string | null;
  payment_method_label: string | null;
}

export async function railCustomer(
  db: Db,
  customerId: string,
  rail: string,
): Promise<RailCustomerRow | null> {
  const [row] = await sqlRows<RailCustomerRow>(
    db,
    'select customer_id, rail, rail_customer_id, payment_method_id, payment_method_label from billing_rail_customers where customer_id = $1 and rail = $2',
    [customerId, rail],
  );
  return row ?? null;
}

export interface PaymentRow {
  id: string;
  invoice_id: string | null;
  customer_id: string;
  idempotency_key: string;
  purpose: string;
  rail: string;
  status: 'pending' | 'succeeded' | 'failed' | 'refunded';
  amount: string;
  currency: string;
  rail_ref: string | null;
  failure_code: string | null;
  failure_message: string | null;
  created_at: Date | string;
}

export const PAYMENT_COLUMNS =
  'id, invoice_id, customer_id, idempotency_key, purpose, rail, status, amount::text as amount, currency, rail_ref, failure_code, failure_message, created_at';
/** The same columns, qualified for joins (`billing_payments p`). */
export const PAYMENT_COLUMNS_P =
  'p.id, p.invoice_id, p.customer_id, p.idempotency_key, p.purpose, p.rail, p.status, p.amount::text as amount, p.currency, p.rail_ref, p.failure_code, p.failure_message, p.created_at';
