import { ApiError, type CurrencyCode, type Environment, Paddle } from '@paddle/paddle-node-sdk';
import { problems } from '../../http/problem.ts';
import { Decimal, minorUnits } from '../../util/money.ts';
import type {
  ChargeInput,
  ChargeResult,
  CheckoutInput,
  CheckoutResult,
  PaymentRail,
  RailEvent,
} from './types.ts';

/**
 * Paddle Billing through its official SDK (`@paddle/paddle-node-sdk`): customers, transactions
 * with a hosted checkout URL, refunds as adjustments, and webhooks verified by
 * `paddle.webhooks.unmarshal` (`Paddle-Signature: ts=…;h1=…`, HMAC-SHA256 of `ts:body`).
 *
 * Paddle is a merchant of record: its transactions API cannot charge a saved card off-session
 * (only Paddle's own subscriptions can). So:
 * - `checkout` creates a transaction for the first invoice's amount (`input.amount`); when its
 *   `transaction.completed` webhook arrives the checkout is complete and that paid transaction is
 *   the customer's "payment method" for exactly that amount: `chargeInvoice` applies it to the
 *   first invoice (marking it in the transaction's `custom_data`, so it is used once);
 * - every other charge creates a transaction for the invoice amount and answers `pending` with
 *   its checkout link (`actionUrl`); `transaction.completed` confirms it by our idempotency key.
 *   A failed attempt on that page (`transaction.payment_failed`) changes nothing: the customer
 *   can try again with the same link, and the service's dunning reminds them of it.
 * Paddle has no idempotency keys; ours travels in `custom_data` and comes back in webhooks.
 *
 * `apiBase` points the SDK elsewhere (tests run a local fake Paddle): the SDK uses an unknown
 * `environment` value as its base URL. Without it, keys starting `pdl_sdbx_` use Paddle's
 * sandbox, others production.
 */
export interface PaddleRailOptions {
  apiKey: string;
  webhookSecret: string;
  apiBase?: string;
}

function toMinor(amount: string, currency: string): string {
  return new Decimal(amount)
    .mul(new Decimal(10).pow(minorUnits(currency)))
    .toDecimalPlaces(0)
    .toFixed(0);
}

type CustomData = Record<string, unknown>;
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

export function createPaddleRail(options: PaddleRailOptions): PaymentRail & { client: Paddle } {
  const environment = (options.apiBase?.replace(/\/$/, '') ??
    (options.apiKey.startsWith('pdl_sdbx_') ? 'sandbox' : 'production')) as Environment;
  const paddle = new Paddle(options.apiKey, { environment });

  function item(description: string, amount: string, currency: string) {
    return {
      quantity: 1,
      price: {
        description,
        name: description,
        unitPrice: {
          amount: toMinor(amount, currency),
          currencyCode: currency.toUpperCase() as CurrencyCode,
        },
        product: { name: description, taxCategory: 'saas' as const },
      },
    };
  }

  /** A paid checkout transaction not yet applied to an invoice (or applied with this key). */
  async function applyCheckoutPayment(input: ChargeInput): Promise<ChargeResult | null> {
    if (!input.paymentMethodId?.startsWith('txn_')) return null;
    const txn = await paddle.transactions.get(input.paymentMethodId);
    const data = (txn.customData ?? {}) as CustomData;
    const paid = txn.status === 'completed' || txn.status === 'paid';
    if (!paid || data.tollgateKind !== 'checkout') return null;
    if (data.appliedTo === input.idempotencyKey) return { status: 'succeeded', railRef: txn.id };
    if (data.appliedTo) return null;
    const amount = str(data.amount);
    if (!amount || !new Decimal(amount).eq(input.amount)) return null;
    if (str(data.currency)?.toUpperCase() !== input.currency.toUpperCase()) return null;
    await paddle.transactions.update(txn.id, { customData: { ...data, appliedTo: input.idempotencyKey } });
    return { status: 'succeeded', railRef: txn.id };
  }

  return {
    name: 'paddle',
    collection: 'automatic',
    paysByLink: true,
    client: paddle,
    async createCustomer(input) {
      if (!input.email) {
        throw problems.badRequest('Paddle needs an email address for the customer; add one first.');
      }
      try {
        const customer = await paddle.customers.create({
          email: input.email,
          name: input.name,
          customData: { tollgateCustomerId: input.customerId },
        });
        return { railCustomerId: customer.id };
      } catch (error) {
        // Paddle has no idempotency keys: a retry after a lost answer finds the customer by email.
        const existing =
          error instanceof ApiError && error.code === 'customer_already_exists'
            ? /ctm_[a-z0-9]+/.exec(error.detail)?.[0]
            : undefined;
        if (existing) return { railCustomerId: existing };
        throw error;
      }
    },
    async checkout(input: CheckoutInput): Promise<CheckoutResult> {
      // Nothing to pay now (a free plan, a plan change billed at period end): no hosted page.
      if (!input.amount || !new Decimal(input.amount).gt(0)) return { url: null, sessionId: '' };
      const txn = await paddle.transactions.create({
        items: [item(input.description, input.amount, input.currency)],
        customerId: input.railCustomerId,
        currencyCode: input.currency.toUpperCase() as CurrencyCode,
        collectionMode: 'automatic',
        customData: {
          ...input.metadata,
          tollgateKind: 'checkout',
          amount: input.amount,
          currency: input.currency,
          successUrl: input.successUrl,
        },
      });
      return { url: txn.checkout?.url ?? null, sessionId: txn.id };
    },
    async chargeInvoice(input: ChargeInput): Promise<ChargeResult> {
      const applied = await applyCheckoutPayment(input);
      if (applied) return applied;
      const txn = await paddle.transactions.create({
        items: [item(input.description, input.amount, input.currency)],
        customerId: input.railCustomerId,
        currencyCode: input.currency.toUpperCase() as CurrencyCode,
        collectionMode: 'automatic',
        customData: {
          ...input.metadata,
          tollgateKind: 'invoice',
          reference: input.reference,
          idempotencyKey: input.idempotencyKey,
        },
      });
      return { status: 'pending', railRef: txn.id, actionUrl: txn.checkout?.url ?? undefined };
    },
    async refund(input) {
      const txn = await paddle.transactions.get(input.railRef);
      const line = txn.details?.lineItems[0];
      if (!line) throw problems.conflict(`Paddle transaction ${input.railRef} has no line to refund.`);
      const adjustment = await paddle.adjustments.create({
        action: 'refund',
        transactionId: input.railRef,
        reason: `Refund ${input.idempotencyKey}`,
        type: 'partial',
        items: [{ itemId: line.id, type: 'partial', amount: toMinor(input.amount, input.currency) }],
      });
      return {
        railRef: adjustment.id,
        // Paddle reviews refunds: `pending_approval` until approved.
        status:
          adjustment.status === 'approved'
            ? 'succeeded'
            : adjustment.status === 'rejected'
              ? 'failed'
              : 'pending',
      };
    },
    async handleWebhook(rawBody, headers): Promise<RailEvent[]> {
      let event: Awaited<ReturnType<Paddle['webhooks']['unmarshal']>>;
      try {
        event = await paddle.webhooks.unmarshal(
          rawBody,
          options.webhookSecret,
          headers.get('paddle-signature') ?? '',
        );
      } catch (error) {
        throw problems.badRequest(
          `Paddle webhook signature verification failed: ${(error as Error).message}`,
        );
      }
      const id = event.eventId;
      if (event.eventType === 'transaction.completed' || event.eventType === 'transaction.payment_failed') {
        const txn = event.data as {
          id: string;
          customerId: string | null;
          customData: CustomData | null;
          payments: {
            status: string;
            errorCode: string | null;
            methodDetails: { card?: { last4?: string } | null } | null;
          }[];
        };
        const data = txn.customData ?? {};
        const kind = str(data.tollgateKind);
        if (kind === 'checkout') {
          // A failed attempt leaves the customer on the checkout page: nothing is created yet.
          if (event.eventType !== 'transaction.completed') {
            return [{ id, type: 'ignored', providerType: event.eventType }];
          }
          const last4 = txn.payments.find((p) => p.status === 'captured')?.methodDetails?.card?.last4;
          const metadata: Record<string, string> = {};
          for (const [k, v] of Object.entries(data)) if (typeof v === 'string') metadata[k] = v;
          return [
            {
              id,
              type: 'checkout.completed',
              sessionId: txn.id,
              railCustomerId: txn.customerId ?? '',
              paymentMethodId: txn.id,
              paymentMethodLabel: last4 ? `Paddle card •••• ${last4}` : 'Paddle checkout',
              metadata,
            },
          ];
        }
        if (kind === 'invoice') {
          // A failed attempt leaves the customer on the invoice's checkout page, where the same
          // transaction stays payable: the invoice is in dunning already (its link was unpaid), and
          // failing the charge would leave a payment of that link unmatched.
          if (event.eventType !== 'transaction.completed') {
            return [{ id, type: 'ignored', providerType: event.eventType }];
          }
          return [
            {
              id,
              type: 'payment.succeeded',
              railRef: txn.id,
              idempotencyKey: str(data.idempotencyKey),
              reference: str(data.reference),
            },
          ];
        }
      }
      return [{ id, type: 'ignored', providerType: event.eventType }];
    },
  };
}
