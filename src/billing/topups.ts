import { problems } from '../http/problem.ts';
import { newId } from '../util/ids.ts';
import { Decimal, formatMoney } from '../util/money.ts';
import type { BillingDeps } from './deps.ts';
import { sqlRows } from './model.ts';
import type { Payments } from './payments.ts';
import type { RailCustomers } from './rail-customers.ts';
import { PAYMENT_COLUMNS, type PaymentRow } from './repo.ts';

/** Prepaid credits bought through the rail: top-ups and auto-recharge. */

export type TopUps = ReturnType<typeof createTopUps>;

export function createTopUps(
  deps: Pick<BillingDeps, 'db' | 'clock' | 'rail' | 'credits' | 'events' | 'mailCustomer'>,
  parts: {
    railCustomers: Pick<RailCustomers, 'ensureRailCustomer'>;
    payments: Pick<Payments, 'paymentById' | 'paymentSucceeded' | 'paymentFailed'>;
  },
) {
  const { db, clock, rail, credits, events, mailCustomer } = deps;
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
    const [pending] = await sqlRows<{ n: number }>(
      db,
      `select count(*)::int as n from billing_payments where customer_id = $1 and purpose = 'topup' and status = 'pending'`,
      [customerId],
    );
    if ((pending?.n ?? 0) > 0) return false;
    const { amount } = settings.autoRecharge;
    const { paymentUrl } = await topUp(customerId, amount, currency);
    await events.emit('credits.auto_recharged', { customerId, currency, amount, paymentUrl });
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
  ): Promise<{ payment: PaymentRow; paymentUrl: string | null }> {
    if (!new Decimal(amount).gt(0)) throw problems.badRequest('A top-up needs a positive amount.');
    const customer = await ensureRailCustomer(customerId);
    const [payment] = await sqlRows<PaymentRow>(
      db,
      `insert into billing_payments (id, invoice_id, customer_id, idempotency_key, purpose, rail, status, amount, currency, created_at, updated_at)
         values ($1, null, $2, $3, 'topup', $4, 'pending', $5, $6, $7, $7) returning ${PAYMENT_COLUMNS}`,
      [
        newId('pay'),
        customerId,
        newId('topup'),
        rail.name,
        formatMoney(amount, currency),
        currency,
        clock.now(),
      ],
    );
    const p = payment as PaymentRow;
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
    await sqlRows(db, 'update billing_payments set rail_ref = $2 where id = $1', [p.id, result.railRef]);
    if (result.status === 'succeeded') await paymentSucceeded(p.id);
    else if (result.status === 'failed')
      await paymentFailed(p.id, result.failureCode ?? 'failed', result.failureMessage ?? '');
    const fresh = (await paymentById(p.id)) as PaymentRow;
    // Paid already (the webhook can beat the rail's answer): no link to follow.
    return { payment: fresh, paymentUrl: fresh.status === 'pending' ? (result.actionUrl ?? null) : null };
  }

  return { topUp, autoRecharge };
}
