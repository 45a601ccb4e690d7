import { z } from '@hono/zod-openapi';
import { isMoneyString } from '../../util/money.ts';
import type { CreditEntry } from '../credits.ts';
import type { Invoice } from '../model.ts';
import type { UpcomingInvoice } from '../preview.ts';
import type { RatedLine } from '../rating.ts';
import type { TierBreakdown } from '../rating-prices.ts';
import type { PaymentRow } from '../repo.ts';

/** Request and response shapes of billing's admin routes (money as decimal strings, dates ISO 8601). */
export const Money = z
  .string()
  .refine(isMoneyString, 'must be a decimal string such as "10.00"')
  .openapi({ description: 'Decimal string', example: '10.00' });
export const Currency = z
  .string()
  .regex(/^[A-Z]{3}$/, 'must be an ISO 4217 code such as "USD"')
  .openapi({ example: 'USD' });
const date = z.string().openapi({ format: 'date-time', example: '2026-01-15T10:00:00.000Z' });

const TierSchema = z.object({
  tier: z.number().int(),
  fromUnit: z.string(),
  upTo: z.string().nullable(),
  quantity: z.string(),
  unitPrice: z.string(),
  flatPrice: z.string(),
  amount: z.string(),
});

export const InvoiceLineSchema = z
  .object({
    position: z.number().int(),
    key: z.string(),
    kind: z.string(),
    description: z.string(),
    rateCardKey: z.string().nullable(),
    featureKey: z.string().nullable(),
    planKey: z.string().nullable(),
    planVersion: z.number().int().nullable(),
    periodFrom: date,
    periodTo: date,
    quantity: z.string(),
    unitPrice: z.string().nullable(),
    amount: z.string(),
    tiers: z.array(TierSchema).nullable(),
  })
  .openapi('InvoiceLine');

export const INVOICE_STATUSES = ['draft', 'issued', 'paid', 'void', 'uncollectible'] as const;

export const InvoiceSchema = z
  .object({
    id: z.string().openapi({ example: 'inv_4k2m9x0q1z8r7t6y5w3v' }),
    number: z.string().nullable(),
    customerId: z.string(),
    subscriptionId: z.string().nullable(),
    status: z.enum(INVOICE_STATUSES),
    currency: z.string(),
    periodFrom: date,
    periodTo: date,
    subtotal: z.string(),
    taxRate: z.string().nullable(),
    tax: z.string(),
    total: z.string(),
    creditsApplied: z.string(),
    amountDue: z.string(),
    rail: z.string().nullable(),
    issuedAt: date.nullable(),
    dueAt: date.nullable(),
    paidAt: date.nullable(),
    voidedAt: date.nullable(),
    paymentAttempts: z.number().int(),
    nextPaymentAttemptAt: date.nullable(),
    lastPaymentError: z.string().nullable(),
    paymentUrl: z.string().nullable(),
    metadata: z.record(z.string(), z.unknown()),
    createdAt: date,
    lines: z.array(InvoiceLineSchema),
  })
  .openapi('Invoice');

/** The invoice as the API shows it (the service's object, with line tiers in the schema's shape). */
export const invoiceOut = (invoice: Invoice): z.infer<typeof InvoiceSchema> => ({
  ...invoice,
  lines: invoice.lines.map((line) => ({ ...line, tiers: line.tiers?.map(tierOut) ?? null })),
});

const tierOut = (tier: TierBreakdown): z.infer<typeof TierSchema> => ({ ...tier });

/** A payment attempt as stored (snake_case, as this route has always answered). */
export const PaymentSchema = z
  .object({
    id: z.string(),
    invoice_id: z.string().nullable(),
    customer_id: z.string(),
    idempotency_key: z.string(),
    purpose: z.string(),
    rail: z.string(),
    status: z.enum(['pending', 'succeeded', 'failed', 'refunded']),
    amount: z.string(),
    currency: z.string(),
    rail_ref: z.string().nullable(),
    failure_code: z.string().nullable(),
    failure_message: z.string().nullable(),
    created_at: date,
  })
  .openapi('Payment');

export const paymentOut = (row: PaymentRow): z.infer<typeof PaymentSchema> => ({
  ...row,
  created_at: new Date(row.created_at).toISOString(),
});

export const CreditEntrySchema = z
  .object({
    id: z.string(),
    customerId: z.string(),
    currency: z.string(),
    kind: z.enum(['grant', 'topup', 'usage', 'expiry', 'refund', 'reservation', 'release']),
    amount: z.string(),
    grantId: z.string().nullable(),
    expiresAt: date.nullable(),
    invoiceId: z.string().nullable(),
    note: z.string().nullable(),
    createdAt: date,
  })
  .openapi('CreditEntry');

export const creditEntryOut = (entry: CreditEntry): z.infer<typeof CreditEntrySchema> => ({ ...entry });

export const CreditSettingsSchema = z
  .object({
    creditsOnly: z.boolean(),
    autoRecharge: z.object({ threshold: z.string(), amount: z.string() }).nullable(),
  })
  .openapi('CreditSettings');

const RatedLineSchema = InvoiceLineSchema.omit({ position: true, tiers: true })
  .extend({ timing: z.enum(['in_advance', 'in_arrears']), tiers: z.array(TierSchema).optional() })
  .openapi('RatedLine');

export const UpcomingSchema = z
  .object({
    subscriptionId: z.string(),
    customerId: z.string(),
    currency: z.string(),
    periodFrom: date,
    periodTo: date,
    asOf: date,
    costToDate: z.object({ lines: z.array(RatedLineSchema), total: z.string() }),
    forecast: z.object({ lines: z.array(RatedLineSchema), total: z.string() }),
  })
  .openapi('UpcomingInvoice');

const ratedLineOut = (line: RatedLine): z.infer<typeof RatedLineSchema> => {
  const { tiers, ...rest } = line;
  return {
    ...rest,
    periodFrom: line.periodFrom.toISOString(),
    periodTo: line.periodTo.toISOString(),
    ...(tiers ? { tiers: tiers.map(tierOut) } : {}),
  };
};

export const upcomingOut = (upcoming: UpcomingInvoice): z.infer<typeof UpcomingSchema> => ({
  ...upcoming,
  costToDate: { lines: upcoming.costToDate.lines.map(ratedLineOut), total: upcoming.costToDate.total },
  forecast: { lines: upcoming.forecast.lines.map(ratedLineOut), total: upcoming.forecast.total },
});
