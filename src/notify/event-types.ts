import { z } from 'zod';

/**
 * The published contract: every event type Tollgate sends, with the schema of its `data`. One
 * shape per resource: `invoice.*` carry `{ invoice }`, `subscription.*` carry `{ subscription }`
 * (plus `previous` where a change has a before), `credits.*` the customer, currency and amount.
 * These schemas are the admin OpenAPI document's `webhooks` (src/notify/openapi.ts), and a test
 * checks every payload Tollgate emits against them.
 *
 * Every delivery's body is `{ type, timestamp, data }`: `timestamp` is when the change was
 * committed (ISO 8601, UTC). First attempts reach an endpoint in write order, but a retry can
 * overtake a later event (docs/webhooks.md); order events about one resource by `timestamp`,
 * and treat the resource inside as its state at that time.
 */
const isoTime = z.string().describe('ISO 8601 date-time, UTC');
const money = z
  .string()
  .regex(/^-?\d+(\.\d+)?$/)
  .describe('A decimal amount as a string, e.g. "49.00"');

const invoice = z.looseObject({
  id: z.string(),
  number: z.string().nullable(),
  customerId: z.string(),
  subscriptionId: z.string().nullable(),
  status: z.enum(['draft', 'issued', 'paid', 'void', 'uncollectible']),
  currency: z.string().length(3),
  total: money,
  amountDue: money,
  periodFrom: isoTime,
  periodTo: isoTime,
});

const subscription = z.looseObject({
  id: z.string(),
  customerId: z.string(),
  planKey: z.string(),
  planVersion: z.number().int(),
  status: z.enum(['trialing', 'active', 'past_due', 'suspended', 'canceled']),
  currentPeriod: z.looseObject({ from: isoTime, to: isoTime }),
  cancelAtPeriodEnd: z.boolean(),
  canceledAt: isoTime.nullable(),
  createdAt: isoTime,
  updatedAt: isoTime,
});

const invoiceEvent = z.looseObject({ invoice });
/** The credit note as it stands after the change, and its invoice (with the amount due it left). */
const creditNoteEvent = z.looseObject({
  creditNote: z.looseObject({
    id: z.string(),
    number: z.string(),
    invoiceId: z.string(),
    customerId: z.string(),
    currency: z.string().length(3),
    status: z.enum(['issued', 'void']),
    type: z.enum(['pre_payment', 'post_payment', 'mixed']),
    total: money,
    prePaymentAmount: money,
    postPaymentAmount: money,
    refundAmount: money,
    creditAmount: money,
    outOfBandAmount: money,
    issuedAt: isoTime,
    voidedAt: isoTime.nullable(),
  }),
  invoice,
});
const subscriptionEvent = z.looseObject({ subscription, previous: subscription.optional() });

export const WEBHOOK_EVENT_SCHEMAS = {
  'invoice.issued': invoiceEvent,
  'invoice.paid': invoiceEvent,
  'invoice.payment_failed': z.looseObject({
    invoice,
    failureCode: z.string(),
    failureMessage: z.string(),
    nextPaymentAttemptAt: isoTime.nullable(),
    paymentUrl: z.string().nullable().optional(),
  }),
  'invoice.void': invoiceEvent,
  'invoice.uncollectible': invoiceEvent,
  'invoice.refunded': z.looseObject({ invoice, amount: money, creditNote: z.string().optional() }),
  'credit_note.issued': creditNoteEvent,
  'credit_note.voided': creditNoteEvent,
  'subscription.created': subscriptionEvent,
  'subscription.updated': subscriptionEvent,
  'subscription.plan_changed': subscriptionEvent,
  'subscription.change_scheduled': subscriptionEvent,
  'subscription.renewed': subscriptionEvent,
  'subscription.canceled': subscriptionEvent,
  'subscription.status_changed': subscriptionEvent,
  'subscription.past_due': subscriptionEvent,
  'subscription.suspended': subscriptionEvent,
  'subscription.reactivated': subscriptionEvent,
  'credits.topped_up': z.looseObject({
    customerId: z.string(),
    currency: z.string().length(3),
    amount: money,
  }),
  'credits.auto_recharged': z.looseObject({
    customerId: z.string(),
    currency: z.string().length(3),
    amount: money,
    paymentUrl: z.string().nullable(),
  }),
  'budget.alert': z.looseObject({
    customerId: z.string(),
    alertId: z.string(),
    kind: z.enum(['amount', 'quota_percent']),
    threshold: z.string(),
    message: z.string(),
  }),
  'usage.threshold': z.looseObject({
    customerId: z.string(),
    subscriptionId: z.string().nullable(),
    feature: z.string(),
    meter: z.string().nullable(),
    threshold: z.number().int(),
    usage: z.number(),
    limit: z.number(),
    period: z.looseObject({ from: isoTime, to: isoTime.nullable() }),
  }),
  'endpoint.disabled': z.looseObject({
    endpoint: z.looseObject({ id: z.string(), url: z.string(), disabledReason: z.string() }),
  }),
  'webhook.test': z.looseObject({ endpointId: z.string(), message: z.string() }),
} as const;

export type WebhookEventType = keyof typeof WEBHOOK_EVENT_SCHEMAS;
export const WEBHOOK_EVENT_TYPES = Object.keys(WEBHOOK_EVENT_SCHEMAS) as WebhookEventType[];

/** Short descriptions, for the OpenAPI document and `tollgate webhooks event-types`. */
export const WEBHOOK_EVENT_DESCRIPTIONS: Record<WebhookEventType, string> = {
  'invoice.issued': 'An invoice was issued (numbered, due).',
  'invoice.paid': 'An invoice was paid in full.',
  'invoice.payment_failed': 'A charge for an invoice failed; the next retry, if any, is included.',
  'invoice.void': 'An invoice was voided.',
  'invoice.uncollectible': 'An invoice was marked uncollectible.',
  'invoice.refunded': 'A paid invoice was refunded, in part or in full (with the credit note number).',
  'credit_note.issued':
    "A credit note was issued against an invoice (off an open invoice's amount due, refund, credits, or settled outside).",
  'credit_note.voided': "A credit note of an open invoice was voided; the invoice's amount due is back up.",
  'subscription.created': 'A customer subscribed to a plan.',
  'subscription.updated': 'A subscription changed in a way no more specific event names.',
  'subscription.plan_changed': 'A subscription moved to another plan or version.',
  'subscription.change_scheduled': 'A plan change was scheduled for the end of the period.',
  'subscription.renewed': 'A subscription entered a new billing period.',
  'subscription.canceled': 'A subscription was canceled (now or at period end).',
  'subscription.status_changed': 'A subscription changed status (sent with the specific event).',
  'subscription.past_due': 'A payment failed; the subscription is past due (API access continues).',
  'subscription.suspended': 'A subscription was suspended (API access blocked).',
  'subscription.reactivated': 'A past-due or suspended subscription is active again.',
  'credits.topped_up': 'Prepaid credits were bought.',
  'credits.auto_recharged': 'An automatic credits top-up was started.',
  'budget.alert': "A customer's budget alert fired (also sent to the customer's own URL).",
  'usage.threshold': 'Usage reached a share of a metered entitlement in the current period.',
  'endpoint.disabled': 'A webhook endpoint was disabled (410 Gone, or failing for days).',
  'webhook.test': 'A test event, sent on request to one endpoint.',
};

/** Why a subscription filter entry names no event type, or null when it does. */
export function eventFilterProblem(entry: string): string | null {
  if (entry === '*') return null;
  if (entry.endsWith('.*')) {
    const prefix = entry.slice(0, -1);
    return WEBHOOK_EVENT_TYPES.some((t) => t.startsWith(prefix))
      ? null
      : `"${entry}" matches no event type (types: ${WEBHOOK_EVENT_TYPES.join(', ')})`;
  }
  return (WEBHOOK_EVENT_TYPES as string[]).includes(entry)
    ? null
    : `"${entry}" is not an event type (types: ${WEBHOOK_EVENT_TYPES.join(', ')})`;
}

export function matchesType(subscribed: readonly string[], type: string): boolean {
  if (subscribed.length === 0) return true;
  return subscribed.some(
    (s) => s === type || s === '*' || (s.endsWith('.*') && type.startsWith(s.slice(0, -1))),
  );
}
