/**
 * One interface for every payment rail; the rest of Tollgate never knows which one it talks to.
 *
 * Adding a rail (e.g. Paddle, Recurly) is one file in `src/billing/rails/`:
 * 1. implement `PaymentRail` with the provider's official SDK (customers, checkout, charging a
 *    stored payment method with an idempotency key, refunds);
 * 2. in `handleWebhook` verify the provider's signature and translate its events into
 *    `RailEvent`s (`payment.succeeded`, `payment.failed`, `checkout.completed`);
 * 3. add a case to `createRail` in `./index.ts` and a config variant under `billing.rail` in
 *    `src/config/schema/billing.ts`.
 * The webhook endpoint `/api/billing/webhooks/<rail>` and dunning work unchanged.
 */
export interface RailCustomerInput {
  customerId: string;
  name: string;
  email?: string | null;
}

export interface ChargeInput {
  /** Our invoice or top-up id. */
  reference: string;
  railCustomerId: string;
  paymentMethodId: string | null;
  /** Decimal string in major units, e.g. "49.00". */
  amount: string;
  currency: string;
  description: string;
  /** Same key → same charge at the provider (retries never double-charge). */
  idempotencyKey: string;
  metadata: Record<string, string>;
}

export interface ChargeResult {
  status: 'succeeded' | 'pending' | 'failed';
  railRef: string | null;
  failureCode?: string;
  failureMessage?: string;
  /** For rails where the customer must act (3-D Secure, hosted invoice). */
  actionUrl?: string;
}

export interface CheckoutInput {
  customerId: string;
  railCustomerId: string;
  /** 'setup' saves a payment method; 'payment' also pays `amount` now. */
  mode: 'setup' | 'payment';
  amount?: string;
  currency: string;
  description: string;
  successUrl: string;
  cancelUrl: string;
  metadata: Record<string, string>;
  /** Sandbox only: the test card number entered in the portal. */
  card?: string;
}

export interface CheckoutResult {
  /** Where to send the customer (hosted checkout), or null when done in place (sandbox card). */
  url: string | null;
  sessionId: string;
  /** When a hosted session expires (no completion after it), when the provider says. */
  expiresAt?: Date;
  /** Set when a payment method was attached in place. */
  paymentMethodId?: string;
  paymentMethodLabel?: string;
}

export type RailEvent =
  | {
      id: string;
      type: 'payment.succeeded';
      railRef: string;
      idempotencyKey?: string;
      reference?: string;
    }
  | {
      id: string;
      type: 'payment.failed';
      railRef: string;
      idempotencyKey?: string;
      reference?: string;
      failureCode: string;
      failureMessage: string;
    }
  | {
      id: string;
      type: 'checkout.completed';
      sessionId: string;
      railCustomerId: string;
      paymentMethodId: string | null;
      paymentMethodLabel?: string;
      metadata: Record<string, string>;
    }
  | { id: string; type: 'ignored'; providerType: string };

export interface PaymentRail {
  readonly name: string;
  /** Whether charges happen automatically (card rails) or by an admin marking the invoice paid. */
  readonly collection: 'automatic' | 'manual';
  /** Its payment events always carry our idempotency key (the rail reference can wait for them). */
  readonly confirmsByIdempotencyKey?: boolean;
  /**
   * A charge it cannot make by itself answers with a link where the customer pays (Paddle's
   * renewals): the invoice is charged before it is mailed, and the mail with the link is the one.
   */
  readonly paysByLink?: boolean;
  createCustomer(input: RailCustomerInput): Promise<{ railCustomerId: string }>;
  checkout(input: CheckoutInput): Promise<CheckoutResult>;
  chargeInvoice(input: ChargeInput): Promise<ChargeResult>;
  refund(input: { railRef: string; amount: string; currency: string; idempotencyKey: string }): Promise<{
    railRef: string;
    status: 'succeeded' | 'pending' | 'failed';
  }>;
  /** Verifies the provider's signature and returns normalised events; throws a 400 problem if invalid. */
  handleWebhook(rawBody: string, headers: Headers): Promise<RailEvent[]>;
}

/** Where a rail delivers its asynchronous events (the billing service). */
export type RailEventHandler = (event: RailEvent) => Promise<void>;
