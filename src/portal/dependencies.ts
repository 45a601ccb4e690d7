import type { Kysely } from 'kysely';
import type { MeterReader } from '../metering/query.ts';
import type { BaseDatabase } from '../store/index.ts';
import type { PlanView } from './plans.ts';

// The SPA reads the portal API's responses with the types below, gathered in `api-types.ts`.

/**
 * What the portal needs from the other modules, in the portal's own words. `module-adapters/` adapts each
 * module's service to these shapes; a module that is not wired leaves its port undefined and the
 * portal answers with an explicit "not available" state (never invented data).
 *
 * Every method takes the session's customer id first: the adapters must scope by it, and the
 * portal additionally checks ownership of every id it is given (404 for other tenants' ids).
 */

export interface CustomerSummary {
  id: string;
  name: string;
  email: string | null;
  createdAt: string;
}

export interface CustomersPort {
  create(input: { name: string; email: string }): Promise<{ id: string; name: string }>;
  get(id: string): Promise<CustomerSummary | null>;
  list(): Promise<CustomerSummary[]>;
}

export interface CatalogPort {
  /** Latest version of every active public plan, as the pricing page shows it. */
  publicPlans(): Promise<PlanView[]>;
}

export interface KeyView {
  id: string;
  name: string;
  prefix: string;
  customerId: string;
  subscriptionId: string | null;
  createdAt: string;
  expiresAt: string | null;
  lastUsedAt: string | null;
  revokedAt: string | null;
  /** Set after a roll: the old key keeps working until then. */
  graceUntil?: string | null;
  status: 'active' | 'expired' | 'revoked' | 'rolling';
}

export interface KeysPort {
  list(customerId: string): Promise<KeyView[]>;
  create(
    customerId: string,
    input: { name: string; expiresAt: Date | null; subscriptionId: string | null },
  ): Promise<{ key: KeyView; secret: string }>;
  roll(customerId: string, keyId: string): Promise<{ key: KeyView; secret: string }>;
  revoke(customerId: string, keyId: string): Promise<void>;
}

export interface SubscriptionView {
  id: string;
  customerId: string;
  status: 'trialing' | 'active' | 'past_due' | 'suspended' | 'canceled';
  plan: { key: string; name: string; version: number };
  phase: string;
  currentPeriod: { from: string; to: string };
  cancelAtPeriodEnd: boolean;
  /** A downgrade scheduled for the end of the period. */
  pendingChange: { planKey: string; effectiveAt: string } | null;
  currency: string;
}

export interface EntitlementBalance {
  featureKey: string;
  featureName: string;
  meterSlug: string | null;
  limit: number | null;
  usage: number;
  soft: boolean;
  periodStart: string;
  resetAt: string;
}

export interface SubscriptionsPort {
  current(customerId: string): Promise<SubscriptionView | null>;
  /** Subscribe without payment (free plans). */
  subscribe(customerId: string, planKey: string): Promise<SubscriptionView>;
  /** Upgrades apply now (prorated); downgrades at the end of the period. */
  changePlan(
    customerId: string,
    subscriptionId: string,
    planKey: string,
  ): Promise<{ subscription: SubscriptionView; timing: 'immediate' | 'period_end' }>;
  cancel(customerId: string, subscriptionId: string): Promise<SubscriptionView>;
  resume(customerId: string, subscriptionId: string): Promise<SubscriptionView>;
  balances(customerId: string): Promise<EntitlementBalance[]>;
}

export interface MoneyLine {
  description: string;
  amount: string;
  quantity?: string;
  /** 'flat' lines are fixed for the period; 'usage' lines grow with traffic (used for the forecast). */
  kind?: 'flat' | 'usage';
}

export interface InvoiceSummary {
  id: string;
  number: string;
  status: 'draft' | 'open' | 'paid' | 'void' | 'uncollectible';
  currency: string;
  total: string;
  periodFrom: string | null;
  periodTo: string | null;
  issuedAt: string | null;
  dueAt: string | null;
  paidAt: string | null;
}

export interface InvoiceDetail extends InvoiceSummary {
  subtotal: string;
  tax: string;
  lines: MoneyLine[];
  /** Where to pay an open invoice on the provider's page (Paddle renewals); null otherwise. */
  paymentUrl: string | null;
  /** Payments that settled it and refunds of it, oldest first (the receipts). */
  payments: PaymentView[];
  /** What reduced it after issue; the invoice itself never changes. */
  creditNotes: CreditNoteView[];
  /** What is left to pay: the total less credits applied and credit notes on the open invoice. */
  amountDue: string;
}

export interface PaymentView {
  id: string;
  kind: 'payment' | 'refund';
  status: 'pending' | 'succeeded' | 'failed';
  amount: string;
  currency: string;
  createdAt: string;
}

export interface CreditNoteView {
  id: string;
  number: string;
  status: 'issued' | 'void';
  /** Taken off the amount due of the invoice while it was open. */
  prePaymentAmount: string;
  voidedAt: string | null;
  reason: string;
  memo: string | null;
  total: string;
  tax: string;
  refundAmount: string;
  creditAmount: string;
  outOfBandAmount: string;
  currency: string;
  issuedAt: string;
  lines: { description: string; amount: string }[];
}

export interface CardInput {
  number: string;
  expiry: string;
  cvc: string;
  name?: string;
}

export type CheckoutResult =
  | { status: 'active'; subscription: SubscriptionView; invoiceId: string | null }
  | { status: 'declined'; message: string }
  | { status: 'redirect'; url: string };

export type CreditKind = 'grant' | 'topup' | 'usage' | 'expiry' | 'refund' | 'reservation' | 'release';

export interface CreditEntryView {
  id: string;
  kind: CreditKind;
  /** Signed decimal string: positive adds to the balance, negative takes from it. */
  amount: string;
  note: string | null;
  /** Grants and top-ups that expire: when what is left of them does. */
  expiresAt: string | null;
  createdAt: string;
}

/** The prepaid credits of one currency. */
export interface CreditAccountView {
  currency: string;
  balance: string;
  /** Held for API calls in flight (credits-only accounts): part of the balance already taken. */
  held: string;
  /** Calls are paid from the balance in real time and refused with 402 at zero. */
  creditsOnly: boolean;
  /** Buys `amount` when an invoice leaves the balance under `threshold` (set by an owner or the operator). */
  autoRecharge: { threshold: string; amount: string } | null;
  /** What is left of the soonest-expiring grant, if any expires. */
  nextExpiry: { amount: string; expiresAt: string } | null;
  /** Newest first, the last 100; holds (reservations and their releases) are left out: `held` sums the open ones. */
  ledger: CreditEntryView[];
}

export interface CreditsView {
  /** The saved payment method a top-up is charged to (its label), or null when there is none. */
  paymentMethod: string | null;
  /** Why top-ups cannot be bought here, or null when they can. */
  topUpBlocked: string | null;
  /** The currency new top-ups are bought in by default (the subscription's). */
  defaultCurrency: string;
  /** Every currency the account is billed or holds credits in. */
  accounts: CreditAccountView[];
}

export type TopUpResult =
  | { status: 'paid' | 'pending' }
  | { status: 'redirect'; url: string }
  | { status: 'declined'; message: string };

export interface BillingPort {
  /** Which payment rail is on: the SPA shows a card form for sandbox and redirects for stripe. */
  rail: 'sandbox' | 'stripe' | 'invoice';
  /** The configured rail by name (a hosted rail may be Stripe or Paddle), for labels. */
  railName?: string;
  checkout(
    customerId: string,
    input: { planKey: string; card?: CardInput; successUrl: string; cancelUrl: string; coupon?: string },
  ): Promise<CheckoutResult>;
  /** What checkout charges today for `planKey` with `coupon` (4xx when the code cannot be redeemed). */
  quoteCheckout?(
    customerId: string,
    planKey: string,
    coupon: string,
  ): Promise<{ currency: string; lines: MoneyLine[]; discount: string; tax: string; total: string }>;
  previewChange(
    customerId: string,
    subscriptionId: string,
    planKey: string,
  ): Promise<{ amount: string; currency: string; lines: MoneyLine[]; timing: 'immediate' | 'period_end' }>;
  upcoming(customerId: string): Promise<{
    currency: string;
    total: string;
    /** End-of-period estimate (before tax) when billing computes one; else the portal extrapolates. */
    forecast?: string;
    lines: MoneyLine[];
    periodFrom: string;
    periodTo: string;
  } | null>;
  listInvoices(customerId: string): Promise<InvoiceSummary[]>;
  /** null when the invoice does not exist or belongs to someone else. */
  getInvoice(customerId: string, invoiceId: string): Promise<InvoiceDetail | null>;
  invoiceHtml(customerId: string, invoiceId: string): Promise<string | null>;
  invoicePdf(customerId: string, invoiceId: string): Promise<{ filename: string; pdf: Uint8Array } | null>;
  payInvoice(
    customerId: string,
    invoiceId: string,
    card?: CardInput,
  ): Promise<
    { status: 'paid' } | { status: 'declined'; message: string } | { status: 'redirect'; url: string }
  >;
  credits(customerId: string): Promise<CreditsView>;
  /**
   * Buys prepaid credits with the saved payment method (409 without one); `pending` until the
   * rail confirms, `redirect` to the provider's payment page, `declined` when the rail says no at once.
   */
  topUp(customerId: string, input: { amount: string; currency: string }): Promise<TopUpResult>;
  /**
   * Turns auto-recharge of one currency on (`{ threshold, amount }`, 409 where a top-up could not
   * be bought) or off (null).
   */
  setAutoRecharge(
    customerId: string,
    input: { currency: string; autoRecharge: { threshold: string; amount: string } | null },
  ): Promise<void>;
}

export interface MailMessage {
  to: string;
  subject: string;
  text: string;
}

/** The notify module's mailer: SMTP, or the dev mailbox (kept in the store) when none is configured. */
export interface MailPort {
  readonly devMailbox: boolean;
  send(message: MailMessage): Promise<void>;
  mailbox(options?: {
    to?: string;
    limit?: number;
  }): Promise<(MailMessage & { id: string; createdAt: string })[]>;
}

/** A customer's webhook endpoint (a budget alert's URL), as the portal shows it. */
export interface WebhookEndpointView {
  id: string;
  url: string;
  description: string | null;
  eventTypes: string[];
  enabled: boolean;
  /** Why the notify module or the operator disabled it (410 Gone, days of failures), or null. */
  disabledReason: string | null;
  disabledAt: string | null;
  createdAt: string;
}

/** A delivery of a customer's webhook, with its attempts (for the portal). */
export interface WebhookDeliveryView {
  id: string;
  endpointId: string;
  messageId: string;
  type: string;
  status: 'pending' | 'succeeded' | 'failed';
  attempts: number;
  nextAttemptAt: string | null;
  lastStatusCode: number | null;
  lastError: string | null;
  createdAt: string;
}

/**
 * The notify module's webhooks: the operator's endpoints, and customers' own endpoints (budget
 * alerts) delivered through the same queue (signed, retried, logged).
 */
export interface WebhookPort {
  /** Emits an event (to the operator's endpoints and, with `customerId`, that customer's). */
  emit(
    type: string,
    data: Record<string, unknown>,
    options?: { customerId?: string | null },
  ): Promise<unknown>;
  /**
   * As `emit`, in one transaction with `claim` (run first): the event is written only if `claim`
   * returns true, and neither is kept if either fails. Null when `claim` returned false.
   */
  emitOnce(
    type: string,
    data: Record<string, unknown>,
    claim: (tx: Kysely<BaseDatabase>) => Promise<boolean>,
    options?: { customerId?: string | null },
  ): Promise<string | null>;
  /** Refuses (400 naming `field`) a URL outgoing calls may not reach (internal addresses, http). */
  checkUrl(url: string, field?: string): Promise<string>;
  /** A customer's endpoint; held (not delivered to) until `markSecretShown`. */
  createEndpoint(input: {
    url: string;
    eventTypes: string[];
    customerId: string;
    source: string;
    description: string;
    secretShown: false;
  }): Promise<{ id: string; secret: string }>;
  markSecretShown(id: string): Promise<void>;
  deleteCustomerEndpoints(customerId: string, source: string): Promise<void>;
  /** That customer's endpoints, each with whether it is enabled and, if not, why and since when. */
  listEndpoints(filter: { customerId: string }): Promise<WebhookEndpointView[]>;
  /** Turns an endpoint back on (clears the reason and the failure run); pending deliveries resume. */
  setEnabled(id: string, enabled: true): Promise<WebhookEndpointView>;
  deliveries(filter: { customerId: string; before?: string; limit?: number }): Promise<WebhookDeliveryView[]>;
  attempts(
    deliveryId: string,
  ): Promise<{ attemptedAt: string; statusCode: number | null; error: string | null; durationMs: number }[]>;
}

export interface AdminPort {
  customers(): Promise<{ id: string; name: string; email?: string | null; createdAt?: string }[]>;
}

export interface PortalPorts {
  customers?: CustomersPort;
  catalog?: CatalogPort;
  keys?: KeysPort;
  subscriptions?: SubscriptionsPort;
  meter?: MeterReader;
  billing?: BillingPort;
  mail?: MailPort;
  webhooks?: WebhookPort;
}
