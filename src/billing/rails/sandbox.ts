import { createHmac, randomBytes } from 'node:crypto';
import { problems } from '../../http/problem.ts';
import { sameSecret } from '../../http/secrets.ts';
import { newId } from '../../util/ids.ts';
import type { Db } from '../model.ts';
import { billingDb } from '../tables.ts';
import type {
  ChargeInput,
  ChargeResult,
  CheckoutInput,
  CheckoutResult,
  PaymentRail,
  RailEvent,
  RailEventHandler,
} from './types.ts';

/**
 * The offline rail, behaving like a real one: charges are accepted as `pending`, confirmed
 * asynchronously, and the outcome arrives as a signed webhook through the same `handleWebhook`
 * path a provider's would. Test cards (as Stripe's):
 *
 * | card                | outcome                      |
 * |---------------------|------------------------------|
 * | 4242 4242 4242 4242 | succeeds                     |
 * | 4000 0000 0000 0002 | declines (`card_declined`)   |
 * | 4000 0000 0000 9995 | declines (`insufficient_funds`) |
 */
export const SANDBOX_CARDS: Record<string, { code: string | null; message: string }> = {
  '4242424242424242': { code: null, message: 'Succeeded' },
  '4000000000000002': { code: 'card_declined', message: 'Your card was declined.' },
  '4000000000009995': { code: 'insufficient_funds', message: 'Your card has insufficient funds.' },
};

const SIGNATURE_HEADER = 'sandbox-signature';

export interface SandboxRail extends PaymentRail {
  /** Where confirmations are delivered (set by the billing service). */
  onEvent(handler: RailEventHandler): void;
  /** Resolves when every confirmation queued so far has been delivered (tests, CLI). */
  drain(): Promise<void>;
  /** Change the outcome of a payment method, e.g. after the customer updates the card. */
  cardOutcome(paymentMethodId: string): { code: string | null; message: string } | null;
}

export function createSandboxRail(db: Db, options: { secret?: string } = {}): SandboxRail {
  const secret = options.secret ?? randomBytes(24).toString('hex');
  let handler: RailEventHandler | null = null;
  const inFlight = new Set<Promise<void>>();

  const sign = (body: string) => createHmac('sha256', secret).update(body).digest('hex');

  function outcomeOf(paymentMethodId: string | null) {
    if (!paymentMethodId) return { code: 'no_payment_method', message: 'No payment method on file.' };
    const m = /^pm_sbx_(\d{16})_/.exec(paymentMethodId);
    const card = m ? SANDBOX_CARDS[m[1] as string] : undefined;
    return card ?? { code: 'card_declined', message: 'Unknown sandbox payment method.' };
  }

  /** Delivers a webhook to ourselves, signed, a tick later, like a provider would. */
  function deliverLater(event: Record<string, unknown>): void {
    const body = JSON.stringify(event);
    const headers = new Headers({ [SIGNATURE_HEADER]: sign(body), 'content-type': 'application/json' });
    const delivery = new Promise<void>((resolve) => setImmediate(resolve))
      .then(async () => {
        if (!handler) return;
        for (const e of await rail.handleWebhook(body, headers)) await handler(e);
      })
      .catch(() => {
        // A provider would retry; the billing run and dunning job re-read charge state anyway.
      })
      .finally(() => inFlight.delete(delivery));
    inFlight.add(delivery);
  }

  const rail: SandboxRail = {
    name: 'sandbox',
    collection: 'automatic',
    confirmsByIdempotencyKey: true,
    onEvent(h) {
      handler = h;
    },
    async drain() {
      while (inFlight.size > 0) await Promise.all([...inFlight]);
    },
    cardOutcome(paymentMethodId) {
      return outcomeOf(paymentMethodId);
    },
    async createCustomer() {
      return { railCustomerId: newId('sbx_cus') };
    },
    async checkout(input: CheckoutInput): Promise<CheckoutResult> {
      const card = (input.card ?? '').replace(/[\s-]/g, '');
      if (!SANDBOX_CARDS[card]) {
        throw problems.badRequest(
          'Use a sandbox test card: 4242 4242 4242 4242 (succeeds), 4000 0000 0000 0002 (declines), 4000 0000 0000 9995 (insufficient funds).',
        );
      }
      const paymentMethodId = `pm_sbx_${card}_${randomBytes(6).toString('hex')}`;
      return {
        url: null,
        sessionId: newId('sbx_cs'),
        paymentMethodId,
        paymentMethodLabel: `Sandbox card •••• ${card.slice(-4)}`,
      };
    },
    async chargeInvoice(input: ChargeInput): Promise<ChargeResult> {
      const outcome = outcomeOf(input.paymentMethodId);
      const id = newId('sbx_ch');
      const inserted = await billingDb(db)
        .insertInto('billing_sandbox_charges')
        .values({
          idempotency_key: input.idempotencyKey,
          id,
          customer_ref: input.railCustomerId,
          amount: input.amount,
          currency: input.currency,
          status: outcome.code ? 'failed' : 'succeeded',
          failure_code: outcome.code,
        })
        .onConflict((oc) => oc.column('idempotency_key').doNothing())
        .returning('id')
        .executeTakeFirst();
      if (!inserted) {
        // Same idempotency key: the provider returns the original charge and sends nothing new.
        const existing = await billingDb(db)
          .selectFrom('billing_sandbox_charges')
          .select(['id', 'status', 'failure_code'])
          .where('idempotency_key', '=', input.idempotencyKey)
          .executeTakeFirst();
        return {
          status:
            existing?.status === 'succeeded'
              ? 'succeeded'
              : existing?.status === 'failed'
                ? 'failed'
                : 'pending',
          railRef: existing?.id ?? null,
          failureCode: existing?.failure_code ?? undefined,
        };
      }
      deliverLater({
        id: newId('sbx_evt'),
        type: outcome.code ? 'charge.failed' : 'charge.succeeded',
        charge: id,
        idempotencyKey: input.idempotencyKey,
        reference: input.reference,
        failureCode: outcome.code,
        failureMessage: outcome.message,
      });
      return { status: 'pending', railRef: id };
    },
    async refund(input) {
      return { railRef: `sbx_re_${input.idempotencyKey.slice(-12)}`, status: 'succeeded' };
    },
    async handleWebhook(rawBody, headers) {
      const presented = headers.get(SIGNATURE_HEADER) ?? '';
      const expected = sign(rawBody);
      if (!sameSecret(presented, expected)) {
        throw problems.badRequest('Invalid sandbox webhook signature.');
      }
      const event = JSON.parse(rawBody) as Record<string, string | null>;
      const common = {
        id: String(event.id),
        railRef: String(event.charge),
        idempotencyKey: event.idempotencyKey ?? undefined,
        reference: event.reference ?? undefined,
      };
      const out: RailEvent[] = [];
      if (event.type === 'charge.succeeded') out.push({ ...common, type: 'payment.succeeded' });
      else if (event.type === 'charge.failed') {
        out.push({
          ...common,
          type: 'payment.failed',
          failureCode: event.failureCode ?? 'card_declined',
          failureMessage: event.failureMessage ?? 'Declined',
        });
      } else out.push({ id: common.id, type: 'ignored', providerType: String(event.type) });
      return out;
    },
  };
  return rail;
}
