import { createHmac, timingSafeEqual } from 'node:crypto';
import { createRequire } from 'node:module';
import type { InvoiceCollection, Client as RecurlyClient, Transaction } from 'recurly';
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
 * Recurly through its official SDK (`recurly`, API v2021-02-25): accounts keyed by our customer
 * id (`code`), the hosted billing-info page for checkout, purchases (with our idempotency key in
 * Recurly's `Idempotency-Key` header) to charge an invoice to the stored billing info, invoice
 * refunds, and JSON webhooks verified by their `recurly-signature` header.
 *
 * Webhooks (https://docs.recurly.com/recurly-subscriptions/docs/signature-verification):
 * `recurly-signature: <unix ms>,<hex HMAC-SHA256>[,<hex>]` over `<timestamp>.<raw body>`, keyed
 * with the endpoint's secret; two signatures during a key rotation, either may match; older than
 * 5 minutes is refused (the tolerance of Recurly's own libraries). JSON notifications are thin
 * (`id`, `object_type`, `event_type`, `account_code`, `uuid`), so the rail reads the object
 * they name back through the API: a payment's transaction, or the account whose billing info
 * was updated (a finished checkout).
 *
 * Checkout: Recurly has no checkout session carrying metadata, so what the portal asked for
 * (plan, return URL) is kept on the account in a custom field and read back with the
 * `billing_info` webhook. `apiBase` points the SDK elsewhere (tests run a local fake Recurly)
 * through the SDK's own HTTP adapter hook; `subdomain` builds the hosted page's address.
 */
export interface RecurlyRailOptions {
  apiKey: string;
  webhookSecret: string;
  subdomain: string;
  region?: 'us' | 'eu';
  apiBase?: string;
}

// The SDK is CommonJS; its runtime classes are reached through require (types come from its d.ts).
const recurly = createRequire(import.meta.url)('recurly') as typeof import('recurly') & {
  DefaultHttpAdapter: new () => {
    execute(
      method: string,
      url: string,
      headers: Record<string, string>,
      body: string | null,
    ): Promise<unknown>;
  };
};

const CHECKOUT_FIELD = 'tollgate_checkout';
const SIGNATURE_TOLERANCE_MS = 5 * 60_000;

/** The SDK's adapter, sending every request to `apiBase` instead of `https://v3.recurly.com`. */
function baseUrlAdapter(apiBase: string) {
  const base = new URL(apiBase);
  return new (class extends recurly.DefaultHttpAdapter {
    override execute(method: string, url: string, headers: Record<string, string>, body: string | null) {
      const target = new URL(url);
      target.protocol = base.protocol;
      target.host = base.host;
      return super.execute(method, target.toString(), headers, body);
    }
  })();
}

export function verifyRecurlySignature(
  header: string,
  rawBody: string,
  secret: string,
  now = Date.now(),
): boolean {
  const [timestamp, ...signatures] = header.split(',').map((s) => s.trim());
  if (!timestamp || !/^\d{10,16}$/.test(timestamp) || signatures.length === 0) return false;
  if (Math.abs(now - Number(timestamp)) > SIGNATURE_TOLERANCE_MS) return false;
  const expected = Buffer.from(createHmac('sha256', secret).update(`${timestamp}.${rawBody}`).digest('hex'));
  return signatures.some((s) => {
    const presented = Buffer.from(s);
    return presented.length === expected.length && timingSafeEqual(presented, expected);
  });
}

const toMajor = (amount: string, currency: string) =>
  Number(new Decimal(amount).toFixed(minorUnits(currency))); // Recurly's API takes amounts as JSON numbers

/** A declined or failed charge as the SDK reports it (`TransactionError`, 422). */
function declineOf(error: unknown): ChargeResult | null {
  if (!(error instanceof recurly.errors.TransactionError)) return null;
  const detail = (
    error as unknown as {
      transactionError?: { transactionId?: string; code?: string; declineCode?: string; message?: string };
    }
  ).transactionError;
  return {
    status: 'failed',
    railRef: detail?.transactionId ?? null,
    failureCode: detail?.declineCode ?? detail?.code ?? 'declined',
    failureMessage: String(detail?.message ?? error.message ?? 'Declined'),
  };
}

export function createRecurlyRail(options: RecurlyRailOptions): PaymentRail & { client: RecurlyClient } {
  const client: RecurlyClient = new recurly.Client(options.apiKey, {
    ...(options.region ? { region: options.region } : {}),
    ...(options.apiBase ? { httpAdapter: baseUrlAdapter(options.apiBase) } : {}),
  });
  // The SDK's methods take request options (headers) after the body; its d.ts leaves them out.
  const withHeaders = client as unknown as {
    createPurchase(body: object, options: { headers: Record<string, string> }): Promise<InvoiceCollection>;
    refundInvoice(
      invoiceId: string,
      body: object,
      options: { headers: Record<string, string> },
    ): Promise<{ id?: string | null; transactions?: Transaction[] | null }>;
  };

  async function paymentEvent(id: string, uuid: string): Promise<RailEvent> {
    const txn = await client.getTransaction(`uuid-${uuid}`);
    const invoiceId = txn.invoice?.id ?? '';
    if (txn.status === 'success') return { id, type: 'payment.succeeded', railRef: invoiceId };
    return {
      id,
      type: 'payment.failed',
      railRef: invoiceId,
      failureCode: txn.statusCode ?? 'declined',
      failureMessage: txn.statusMessage ?? 'The payment failed.',
    };
  }

  async function checkoutEvent(id: string, accountCode: string): Promise<RailEvent> {
    const account = await client.getAccount(`code-${accountCode}`);
    const stash = account.customFields?.find((f) => f.name === CHECKOUT_FIELD)?.value;
    const metadata: Record<string, string> = {};
    if (stash) {
      for (const [k, v] of Object.entries(JSON.parse(stash) as Record<string, unknown>)) {
        if (typeof v === 'string') metadata[k] = v;
      }
    }
    const card = account.billingInfo?.paymentMethod;
    return {
      id,
      type: 'checkout.completed',
      sessionId: `recurly-checkout-${accountCode}`,
      railCustomerId: accountCode,
      // Recurly charges the account's billing info: the account code stands for it.
      paymentMethodId: account.billingInfo ? accountCode : null,
      paymentMethodLabel: card?.lastFour
        ? `${card.cardType ?? 'Card'} •••• ${card.lastFour}`
        : 'Recurly billing info',
      metadata,
    };
  }

  return {
    name: 'recurly',
    collection: 'automatic',
    client,
    async createCustomer(input) {
      try {
        const account = await client.createAccount({
          code: input.customerId,
          ...(input.email ? { email: input.email } : {}),
          company: input.name,
        });
        return { railCustomerId: account.code ?? input.customerId };
      } catch (error) {
        // A retry after a lost answer: the account with our code exists already.
        if (error instanceof recurly.errors.ValidationError && /taken/i.test(String(error.message))) {
          return { railCustomerId: input.customerId };
        }
        throw error;
      }
    },
    async checkout(input: CheckoutInput): Promise<CheckoutResult> {
      const account = await client.updateAccount(`code-${input.railCustomerId}`, {
        customFields: [
          {
            name: CHECKOUT_FIELD,
            value: JSON.stringify({ ...input.metadata, successUrl: input.successUrl }),
          },
        ],
      });
      const url = `https://${options.subdomain}.recurly.com/account/billing_info/edit?ht=${encodeURIComponent(account.hostedLoginToken ?? '')}`;
      return { url, sessionId: `recurly-checkout-${input.railCustomerId}` };
    },
    async chargeInvoice(input: ChargeInput): Promise<ChargeResult> {
      if (!input.paymentMethodId) {
        return {
          status: 'failed',
          railRef: null,
          failureCode: 'no_payment_method',
          failureMessage: 'No billing info on file.',
        };
      }
      try {
        const collection = await withHeaders.createPurchase(
          {
            currency: input.currency.toUpperCase(),
            account: { code: input.railCustomerId },
            collectionMethod: 'automatic',
            lineItems: [
              {
                currency: input.currency.toUpperCase(),
                unitAmount: toMajor(input.amount, input.currency),
                type: 'charge',
                description: input.description,
              },
            ],
            customerNotes: `Tollgate ${input.reference}`,
          },
          { headers: { 'Idempotency-Key': input.idempotencyKey } },
        );
        const invoice = collection.chargeInvoice;
        const railRef = invoice?.id ?? null;
        if (invoice?.state === 'paid') return { status: 'succeeded', railRef };
        if (invoice?.state === 'failed') {
          const txn = invoice.transactions?.[invoice.transactions.length - 1];
          return {
            status: 'failed',
            railRef,
            failureCode: txn?.statusCode ?? 'declined',
            failureMessage: txn?.statusMessage ?? 'The payment failed.',
          };
        }
        return { status: 'pending', railRef };
      } catch (error) {
        const declined = declineOf(error);
        if (declined) return declined;
        throw error;
      }
    },
    async refund(input) {
      const refund = await withHeaders.refundInvoice(
        input.railRef,
        { type: 'amount', amount: toMajor(input.amount, input.currency) },
        { headers: { 'Idempotency-Key': input.idempotencyKey } },
      );
      const txn = refund.transactions?.[0];
      return {
        railRef: refund.id ?? input.railRef,
        status:
          txn?.status === 'success' || !txn
            ? 'succeeded'
            : txn.status === 'declined' || txn.status === 'error'
              ? 'failed'
              : 'pending',
      };
    },
    async handleWebhook(rawBody, headers): Promise<RailEvent[]> {
      if (!verifyRecurlySignature(headers.get('recurly-signature') ?? '', rawBody, options.webhookSecret)) {
        throw problems.badRequest('Recurly webhook signature verification failed (recurly-signature).');
      }
      let event: {
        id?: unknown;
        object_type?: unknown;
        event_type?: unknown;
        account_code?: unknown;
        uuid?: unknown;
      };
      try {
        event = JSON.parse(rawBody) as typeof event;
      } catch {
        throw problems.badRequest('A Recurly webhook must be JSON.');
      }
      const id = typeof event.id === 'string' ? event.id : '';
      const kind = `${String(event.object_type)}.${String(event.event_type)}`;
      if (!id) throw problems.badRequest('A Recurly webhook needs its notification id.');
      if (
        (kind === 'payment.succeeded' || kind === 'payment.declined' || kind === 'payment.failed') &&
        typeof event.uuid === 'string'
      ) {
        return [await paymentEvent(id, event.uuid)];
      }
      if (kind === 'billing_info.updated' && typeof event.account_code === 'string') {
        return [await checkoutEvent(id, event.account_code)];
      }
      return [{ id, type: 'ignored', providerType: kind }];
    },
  };
}
