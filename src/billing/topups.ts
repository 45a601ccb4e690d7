import { problems } from '../http/problem.ts';
import { newId } from '../util/ids.ts';
import { Decimal, formatMoney } from '../util/money.ts';
import { creditDb } from './credits/tables.ts';
import type { BillingDeps } from './deps.ts';
import type { Payments } from './payments.ts';
import type { RailCustomers } from './rail-customers.ts';
import { PAYMENT_COLUMNS, type PaymentRow } from './repo.ts';

/**
 * Prepaid credits bought through the rail: top-ups and auto-recharge. An automatic top-up's
 * `credits.auto_recharged` event is written in the transaction that records the rail's answer
 * to it (with the link to pay, where the rail needs the customer), so it is neither lost nor sent
 * for a top-up that never reached the rail.
 */

export type TopUps = ReturnType<typeof createTopUps>;

export function createTopUps(
  deps: Pick<BillingDeps, 'store' | 'db' | 'clock' | 'rail' | 'credits' | 'events' | 'mailCustomer'>,
  parts: {
    railCustomers: Pick<RailCustomers, 'ensureRailCustomer'>;
    payments: Pick<Payments, 'paymentById' | 'paymentSucceeded' | 'paymentFailed'>;
  },
) {
  const { store, db, clock, rail, credits, events, mailCustomer } = deps;
  const tables = creditDb(db);
  const { ensureRailCustomer } = parts.railCustomers;
  const { paymentById, paymentSucceeded, paymentFailed } = parts.payments;

  /**
   * Optional auto-recharge: when a customer's balance falls below their threshold, buy their
   * configured top-up through the rail (one pending top-up at a time).
   */
  async function autoRecharge(customerId: string, currency: string): Promise<boolean> {
    const settings = await credits.settings(customerId, currency);
    if (!settings.autoRecharge) return false;
    const balance = new Decimal(await credits.balance(customerId, currency));
    if (balance.gte(settings.autoRecharge.threshold)) return false;
    const pending = await tables
      .selectFrom('billing_payments')
      .select('id')
      .where('customer_id', '=', customerId)
      .where('purpose', '=', 'topup')
      .where('status', '=', 'pending')
      .executeTakeFirst();
    if (pending) return false;
    const { amount } = settings.autoRecharge;
    const { paymentUrl } = await topUp(customerId, amount, currency, { automatic: true });
    if (paymentUrl) {
      const [toPay, threshold] = [amount, settings.autoRecharge.threshold].map((v) =>
        formatMoney(v, currency),
      );
      await mailCustomer(
        customerId,
        `Prepaid credits: ${toPay} ${currency} to pay`,
        [
          `Your credit balance fell below ${threshold} ${currency}, so your automatic top-up of ${toPay} ${currency} is ready. Pay it here: ${paymentUrl}`,
          'The credits are added once the payment is through; no other automatic top-up starts while this one is open.',
        ].join('\n\n'),
      );
    }
    return true;
  }

  /**
   * Buys prepaid credits through the rail; the ledger gets the top-up when the payment succeeds.
   * A rail that cannot collect by itself (Paddle) answers with a link where the customer pays:
   * `paymentUrl`, where the caller must send the customer; the top-up stays pending (and the
   * ledger untouched) until the provider confirms the payment.
   */
  async function topUp(
    customerId: string,
    amount: string,
    currency: string,
    options: { automatic?: boolean } = {},
  ): Promise<{ payment: PaymentRow; paymentUrl: string | null }> {
    if (!new Decimal(amount).gt(0)) throw problems.badRequest('A top-up needs a positive amount.');
    const customer = await ensureRailCustomer(customerId);
    const now = clock.now();
    const p = await tables
      .insertInto('billing_payments')
      .values({
        id: newId('pay'),
        invoice_id: null,
        customer_id: customerId,
        idempotency_key: newId('topup'),
        purpose: 'topup',
        rail: rail.name,
        status: 'pending',
        amount: formatMoney(amount, currency),
        currency,
        rail_ref: null,
        failure_code: null,
        failure_message: null,
        created_at: now,
        updated_at: now,
      })
      .returning(PAYMENT_COLUMNS)
      .executeTakeFirstOrThrow();
    const result = await rail.chargeInvoice({
      reference: p.id,
      railCustomerId: customer.rail_customer_id,
      paymentMethodId: customer.payment_method_id,
      amount: p.amount,
      currency,
      description: 'Prepaid credits',
      idempotencyKey: p.idempotency_key,
      metadata: { paymentId: p.id, purpose: 'topup' },
    });
    const event = options.automatic
      ? {
          customerId,
          currency,
          amount: formatMoney(amount, currency),
          paymentUrl: result.status === 'pending' ? (result.actionUrl ?? null) : null,
        }
      : null;
    await store.transaction(async (tx) => {
      await creditDb(tx)
        .updateTable('billing_payments')
        .set({ rail_ref: result.railRef })
        .where('id', '=', p.id)
        .execute();
      if (event) await events.enqueue(tx, 'credits.auto_recharged', event);
    });
    if (result.status === 'succeeded') await paymentSucceeded(p.id);
    else if (result.status === 'failed')
      await paymentFailed(p.id, result.failureCode ?? 'failed', result.failureMessage ?? '');
    const fresh = (await paymentById(p.id)) as PaymentRow;
    // Paid already (the webhook can beat the rail's answer): no link to follow.
    return { payment: fresh, paymentUrl: fresh.status === 'pending' ? (result.actionUrl ?? null) : null };
  }

  return { topUp, autoRecharge };
}
