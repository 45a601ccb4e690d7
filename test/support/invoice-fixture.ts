import type { Invoice, InvoiceLine } from '../../src/billing/model.ts';

/** An issued and paid invoice as billing stores it, for tests of the documents made from it. */
export const line = (over: Partial<InvoiceLine>): InvoiceLine => ({
  position: 0,
  key: 'base',
  kind: 'flat_fee',
  description: 'Pro subscription',
  rateCardKey: 'base',
  featureKey: null,
  planKey: 'pro',
  planVersion: 1,
  periodFrom: '2026-12-05T00:00:00.000Z',
  periodTo: '2027-01-05T00:00:00.000Z',
  quantity: '1',
  unitPrice: '19',
  amount: '19.00',
  tiers: null,
  ...over,
});

export function invoice(over: Partial<Invoice> = {}): Invoice {
  return {
    id: 'inv_1',
    number: 'INV-000001',
    customerId: 'cus_1',
    subscriptionId: 'sub_1',
    status: 'paid',
    currency: 'USD',
    periodFrom: '2026-12-05T00:00:00.000Z',
    periodTo: '2027-01-05T00:00:00.000Z',
    subtotal: '19.00',
    taxRate: null,
    tax: '0.00',
    total: '19.00',
    creditsApplied: '0.00',
    amountDue: '19.00',
    rail: 'sandbox',
    issuedAt: '2026-12-05T10:00:00.000Z',
    dueAt: '2026-12-05T10:00:00.000Z',
    paidAt: '2026-12-05T10:00:01.000Z',
    voidedAt: null,
    paymentAttempts: 1,
    nextPaymentAttemptAt: null,
    lastPaymentError: null,
    paymentUrl: null,
    metadata: {},
    createdAt: '2026-12-05T10:00:00.000Z',
    lines: [line({})],
    ...over,
  };
}
