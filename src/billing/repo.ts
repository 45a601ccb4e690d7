import { type Selectable, sql } from 'kysely';
import { Decimal } from '../util/money.ts';
import { type Db, type Invoice, type InvoiceLine, type InvoiceStatus, iso } from './model.ts';
import { type BillingTables, billingDb, type PaymentStatus } from './tables.ts';

/** Reading invoices and rail customers, and the shapes of payment rows. */
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

/** An invoice line as stored (money as text). */
type LineRow = Selectable<BillingTables['billing_invoice_lines']>;

/** A timestamp column that is never null, as ISO 8601 UTC. */
const stamp = (value: Date | string): string => new Date(value).toISOString();

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
    periodFrom: stamp(row.period_from),
    periodTo: stamp(row.period_to),
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
    createdAt: stamp(row.created_at),
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
          periodFrom: stamp(l.period_from),
          periodTo: stamp(l.period_to),
          quantity: new Decimal(l.quantity).toString(),
          unitPrice: l.unit_price === null ? null : new Decimal(l.unit_price).toString(),
          amount: fixed(l.amount, digits),
          tiers: typeof l.tiers === 'string' ? JSON.parse(l.tiers) : l.tiers,
        }),
      ),
  };
}

/** A money (`numeric`) column read as text, so it never passes through a float. */
const text = <T extends string | null = string>(column: string) => sql<T>`cast(${sql.ref(column)} as text)`;

/** The columns of an `InvoiceRow`, money as text. */
function selectInvoices(db: Db) {
  return billingDb(db)
    .selectFrom('billing_invoices')
    .select([
      'id',
      'number',
      'customer_id',
      'subscription_id',
      'status',
      'currency',
      'period_from',
      'period_to',
      text('subtotal').as('subtotal'),
      text<string | null>('tax_rate').as('tax_rate'),
      text('tax').as('tax'),
      text('total').as('total'),
      text('credits_applied').as('credits_applied'),
      text('amount_due').as('amount_due'),
      'rail',
      'issued_at',
      'due_at',
      'paid_at',
      'voided_at',
      'payment_attempts',
      'next_payment_attempt_at',
      'last_payment_error',
      'metadata',
      'created_at',
      'first_failed_at',
      'payment_url',
    ]);
}

export async function invoiceRow(db: Db, id: string, forUpdate = false): Promise<InvoiceRow | null> {
  const query = selectInvoices(db).where('id', '=', id);
  return (await (forUpdate ? query.forUpdate() : query).executeTakeFirst()) ?? null;
}

export async function invoiceRowByKey(db: Db, key: string): Promise<InvoiceRow | null> {
  return (await selectInvoices(db).where('idempotency_key', '=', key).executeTakeFirst()) ?? null;
}

export async function invoiceLines(db: Db, ids: string[]): Promise<LineRow[]> {
  if (ids.length === 0) return [];
  return billingDb(db)
    .selectFrom('billing_invoice_lines')
    .select([
      'invoice_id',
      'position',
      'key',
      'kind',
      'description',
      'rate_card_key',
      'feature_key',
      'plan_key',
      'plan_version',
      'period_from',
      'period_to',
      text('quantity').as('quantity'),
      text<string | null>('unit_price').as('unit_price'),
      text('amount').as('amount'),
      'tiers',
    ])
    .where('invoice_id', 'in', ids)
    .execute();
}

export interface InvoiceFilter {
  customerId?: string;
  subscriptionId?: string;
  status?: InvoiceStatus;
  limit?: number;
  offset?: number;
}

export async function listInvoiceRows(db: Db, filter: InvoiceFilter): Promise<InvoiceRow[]> {
  let query = selectInvoices(db);
  if (filter.customerId !== undefined) query = query.where('customer_id', '=', filter.customerId);
  if (filter.subscriptionId !== undefined) query = query.where('subscription_id', '=', filter.subscriptionId);
  if (filter.status !== undefined) query = query.where('status', '=', filter.status);
  return query
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .limit(Math.min(filter.limit ?? 100, 1000))
    .offset(filter.offset ?? 0)
    .execute();
}

/** Gapless: the counter row is updated in the issuing transaction, so a rollback frees the number. */
export async function nextInvoiceNumber(db: Db): Promise<string> {
  const row = await billingDb(db)
    .insertInto('billing_counters')
    .values({ name: 'invoice', value: 1 })
    .onConflict((oc) => oc.column('name').doUpdateSet({ value: sql`billing_counters.value + 1` }))
    .returning('value')
    .executeTakeFirst();
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
  const row = await billingDb(db)
    .selectFrom('billing_rail_customers')
    .select(['customer_id', 'rail', 'rail_customer_id', 'payment_method_id', 'payment_method_label'])
    .where('customer_id', '=', customerId)
    .where('rail', '=', rail)
    .executeTakeFirst();
  return row ?? null;
}

export interface PaymentRow {
  id: string;
  invoice_id: string | null;
  customer_id: string;
  idempotency_key: string;
  purpose: string;
  rail: string;
  status: PaymentStatus;
  amount: string;
  currency: string;
  rail_ref: string | null;
  failure_code: string | null;
  failure_message: string | null;
  created_at: Date | string;
}

/** A payment row's columns (amount as text), for `select` and `returning` on `billing_payments`. */
export const PAYMENT_COLUMNS = [
  'id',
  'invoice_id',
  'customer_id',
  'idempotency_key',
  'purpose',
  'rail',
  'status',
  text('amount').as('amount'),
  'currency',
  'rail_ref',
  'failure_code',
  'failure_message',
  'created_at',
] as const;

export function selectPayments(db: Db) {
  return billingDb(db).selectFrom('billing_payments').select(PAYMENT_COLUMNS);
}
