import Stripe from 'stripe';
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
 * Stripe through its official SDK: Customers, Checkout Sessions in `setup` mode to save a card,
 * off-session PaymentIntents (with our idempotency key) to charge invoices, Refunds, and
 * webhooks verified with `stripe.webhooks.constructEvent`. `apiBase` points the SDK elsewhere
 * (tests run a local fake Stripe; proxies).
 */
export interface StripeRailOptions {
  secretKey: string;
  webhookSecret: string;
  apiBase?: string;
}

function toMinor(amount: string, currency: string): number {
  return new Decimal(amount)
    .mul(new Decimal(10).pow(minorUnits(currency)))
    .toDecimalPlaces(0)
    .toNumber();
}

export function createStripeRail(options: StripeRailOptions): PaymentRail & { client: Stripe } {
  const config: ConstructorParameters<typeof Stripe>[1] = { maxNetworkRetries: 2, telemetry: false };
  if (options.apiBase) {
    const url = new URL(options.apiBase);
    config.host = url.hostname;
    config.port = url.port || (url.protocol === 'https:' ? 443 : 80);
    config.protocol = url.protocol === 'http:' ? 'http' : 'https';
  }
  const stripe = new Stripe(options.secretKey, config);

  return {
    name: 'stripe',
    collection: 'automatic',
    client: stripe,
    async createCustomer(input) {
      const customer = await stripe.customers.create(
        {
          name: input.name,
          ...(input.email ? { email: input.email } : {}),
          metadata: { tollgateCustomerId: input.customerId },
        },
        { idempotencyKey: `tollgate-customer-${input.customerId}` },
      );
      return { railCustomerId: customer.id };
    },
    async checkout(input: CheckoutInput): Promise<CheckoutResult> {
      const session = await stripe.checkout.sessions.create({
        mode: 'setup',
        customer: input.railCustomerId,
        currency: input.currency.toLowerCase(),
        success_url: input.successUrl,
        cancel_url: input.cancelUrl,
        metadata: input.metadata,
        setup_intent_data: { metadata: input.metadata },
      });
      // `expires_at` (stripe-node types/Checkout/Sessions.d.ts): "The timestamp at which the
      // Checkout Session will expire"; a coupon quoted for it is held until then.
      return {
        url: session.url ?? null,
        sessionId: session.id,
        ...(session.expires_at ? { expiresAt: new Date(session.expires_at * 1000) } : {}),
      };
    },
    async chargeInvoice(input: ChargeInput): Promise<ChargeResult> {
      if (!input.paymentMethodId) {
        return {
          status: 'failed',
          railRef: null,
          failureCode: 'no_payment_method',
          failureMessage: 'No card on file.',
        };
      }
      try {
        const intent = await stripe.paymentIntents.create(
          {
            amount: toMinor(input.amount, input.currency),
            currency: input.currency.toLowerCase(),
            customer: input.railCustomerId,
            payment_method: input.paymentMethodId,
            off_session: true,
            confirm: true,
            description: input.description,
            metadata: { ...input.metadata, reference: input.reference, idempotencyKey: input.idempotencyKey },
          },
          { idempotencyKey: input.idempotencyKey },
        );
        if (intent.status === 'succeeded') return { status: 'succeeded', railRef: intent.id };
        if (intent.status === 'canceled' || intent.status === 'requires_payment_method') {
          return {
            status: 'failed',
            railRef: intent.id,
            failureCode:
              intent.last_payment_error?.decline_code ?? intent.last_payment_error?.code ?? 'payment_failed',
            failureMessage: intent.last_payment_error?.message ?? 'The payment failed.',
          };
        }
        return { status: 'pending', railRef: intent.id };
      } catch (error) {
        if (error instanceof Stripe.errors.StripeCardError) {
          const raw = error.raw as { payment_intent?: { id?: string }; decline_code?: string };
          return {
            status: 'failed',
            railRef: raw.payment_intent?.id ?? null,
            failureCode: error.decline_code ?? error.code ?? 'card_declined',
            failureMessage: error.message,
          };
        }
        throw error;
      }
    },
    async refund(input) {
      const refund = await stripe.refunds.create(
        { payment_intent: input.railRef, amount: toMinor(input.amount, input.currency) },
        { idempotencyKey: input.idempotencyKey },
      );
      return {
        railRef: refund.id,
        status:
          refund.status === 'succeeded' ? 'succeeded' : refund.status === 'failed' ? 'failed' : 'pending',
      };
    },
    async handleWebhook(rawBody, headers): Promise<RailEvent[]> {
      let event: Stripe.Event;
      try {
        event = stripe.webhooks.constructEvent(
          rawBody,
          headers.get('stripe-signature') ?? '',
          options.webhookSecret,
        );
      } catch (error) {
        throw problems.badRequest(
          `Stripe webhook signature verification failed: ${(error as Error).message}`,
        );
      }
      switch (event.type) {
        case 'payment_intent.succeeded': {
          const intent = event.data.object;
          return [
            {
              id: event.id,
              type: 'payment.succeeded',
              railRef: intent.id,
              idempotencyKey: intent.metadata?.idempotencyKey,
              reference: intent.metadata?.reference,
            },
          ];
        }
        case 'payment_intent.payment_failed': {
          const intent = event.data.object;
          return [
            {
              id: event.id,
              type: 'payment.failed',
              railRef: intent.id,
              idempotencyKey: intent.metadata?.idempotencyKey,
              reference: intent.metadata?.reference,
              failureCode:
                intent.last_payment_error?.decline_code ??
                intent.last_payment_error?.code ??
                'payment_failed',
              failureMessage: intent.last_payment_error?.message ?? 'The payment failed.',
            },
          ];
        }
        case 'checkout.session.completed': {
          const session = event.data.object;
          let paymentMethodId: string | null = null;
          let label: string | undefined;
          const setupIntentId =
            typeof session.setup_intent === 'string' ? session.setup_intent : session.setup_intent?.id;
          if (setupIntentId) {
            const setupIntent = await stripe.setupIntents.retrieve(setupIntentId);
            paymentMethodId =
              typeof setupIntent.payment_method === 'string'
                ? setupIntent.payment_method
                : (setupIntent.payment_method?.id ?? null);
            label = paymentMethodId ? `Card (${paymentMethodId})` : undefined;
          }
          return [
            {
              id: event.id,
              type: 'checkout.completed',
              sessionId: session.id,
              railCustomerId:
                typeof session.customer === 'string' ? session.customer : (session.customer?.id ?? ''),
              paymentMethodId,
              paymentMethodLabel: label,
              metadata: (session.metadata ?? {}) as Record<string, string>,
            },
          ];
        }
        default:
          return [{ id: event.id, type: 'ignored', providerType: event.type }];
      }
    },
  };
}
