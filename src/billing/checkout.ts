import { sql } from 'kysely';
import { problems } from '../http/problem.ts';
import { newId } from '../util/ids.ts';
import { Decimal, formatMoney } from '../util/money.ts';
import { type BillingDeps, DAY } from './deps.ts';
import { applyDiscounts, couponTerms } from './discounts/apply.ts';
import type { Discounts } from './discounts/service.ts';
import { type Invoices, summary, totals } from './invoices.ts';
import type { BillingSubscription, Db, Invoice } from './model.ts';
import type { Preview } from './preview.ts';
import type { RailCustomers } from './rail-customers.ts';
import { type RatedLine, rate } from './rating.ts';
import { type InvoiceRow, invoiceRowByKey, type PaymentRow } from './repo.ts';
import { billingDb } from './tables.ts';

/**
 * How long a hosted checkout's coupon is held when its rail does not say when the session expires
 * (Paddle): Stripe's default for a Checkout Session (stripe-node
 * types/Checkout/SessionsResource.d.ts, `expires_at`: "By default, this value is 24 hours from
 * creation").
 */
const HOSTED_SESSION_HOURS = 24;
const HOUR = 3_600_000;

/**
 * Checkout: a payment method arrives, a new subscription pays its first period's in-advance fees
 * at once, and a declined first charge undoes the checkout.
 */

export type Checkout = ReturnType<typeof createCheckout>;

export function createCheckout(
  deps: Pick<
    BillingDeps,
    'store' | 'db' | 'clock' | 'config' | 'subscriptions' | 'rail' | 'credits' | 'events' | 'taxRate'
  >,
  parts: {
    invoices: Pick<Invoices, 'createAndIssue' | 'afterCreated' | 'mustLoad'>;
    railCustomers: Pick<RailCustomers, 'ensureRailCustomer' | 'savePaymentMethod'>;
    /** Payments need checkout too (a declined first charge), so collection comes in as functions. */
    collect(invoiceId: string): Promise<PaymentRow | null>;
    resumeCollection(row: InvoiceRow): Promise<void>;
    /** Coupons entered at checkout: checked before paying, redeemed with the new subscription. */
    discounts?: Pick<Discounts, 'check' | 'redeemIn' | 'hold'>;
    withDiscounts?: Preview['withDiscounts'];
  },
) {
  const { store, db, clock, config, subscriptions, rail, credits, events, taxRate } = deps;
  const { createAndIssue, afterCreated, mustLoad } = parts.invoices;
  const { ensureRailCustomer, savePaymentMethod } = parts.railCustomers;
  const { collect, resumeCollection } = parts;

  /**
   * The first charge of a new subscription (checkout) was declined: compensate, so the checkout
   * leaves nothing behind. The invoice is voided (credits it drew go back), the subscription is
   * canceled now; the customer can check out again with another card. The void invoice takes the
   * key of its period's invoice (`sub:<id>:<from>`), so the billing run never bills that period.
   */
  async function undoCheckout(row: InvoiceRow, code: string, message: string): Promise<void> {
    // One transaction: the void, the credits it gives back and its events.
    const undone = await store.transaction(async (tx) => {
      const voided = await billingDb(tx)
        .updateTable('billing_invoices')
        .set({
          status: 'void',
          voided_at: clock.now(),
          next_payment_attempt_at: null,
          last_payment_error: `${code}: ${message}`,
          idempotency_key: sql<string>`replace(idempotency_key, ':first:', ':')`,
        })
        .where('id', '=', row.id)
        .where('status', '=', 'issued')
        .returning('id')
        .executeTakeFirst();
      if (!voided) return null;
      const released = await releaseDrawnCredits(tx, row);
      const invoice = summary(await mustLoad(row.id, tx));
      await events.enqueue(tx, 'invoice.void', { invoice });
      await events.enqueue(tx, 'invoice.payment_failed', {
        invoice,
        failureCode: code,
        failureMessage: message,
        nextPaymentAttemptAt: null,
      });
      return { released };
    });
    if (!undone) return;
    if (undone.released > 0) await credits.refresh(row.customer_id);
    if (row.subscription_id && subscriptions.cancel) {
      const sub = await subscriptions.get(row.subscription_id);
      if (sub && sub.status !== 'canceled') await subscriptions.cancel(sub.id);
    }
  }

  /** Gives back the credits a voided checkout invoice drew; how many entries it released. */
  async function releaseDrawnCredits(tx: Db, row: InvoiceRow): Promise<number> {
    const drawn = await billingDb(tx)
      .selectFrom('billing_credit_ledger')
      .select(['id', 'currency', sql<string>`cast(amount as text)`.as('amount'), 'grant_id'])
      .where('invoice_id', '=', row.id)
      .where('kind', 'in', ['usage', 'release'])
      .execute();
    for (const d of drawn) {
      await billingDb(tx)
        .insertInto('billing_credit_ledger')
        .values({
          id: newId('crd'),
          customer_id: row.customer_id,
          currency: d.currency,
          kind: 'release',
          amount: new Decimal(d.amount).neg().toString(),
          grant_id: d.grant_id,
          invoice_id: row.id,
          idempotency_key: `void:${d.id}`,
          note: 'Invoice voided: checkout declined',
          created_at: clock.now(),
        })
        .onConflict((oc) => oc.column('idempotency_key').doNothing())
        .execute();
    }
    return drawn.length;
  }

  /**
   * A payment method arrived (sandbox card or hosted checkout): subscribe if a plan was chosen,
   * then collect what is open for the customer (first invoice, overdue invoices).
   */
  async function afterPaymentMethod(
    customerId: string,
    metadata: Record<string, string>,
    /** `hosted`: the provider's hosted checkout completed, its coupon quoted and held (`startCheckout`). */
    options: { hosted?: boolean } = {},
  ): Promise<Invoice | null> {
    let first: Invoice | null = null;
    if (metadata.planKey && subscriptions.subscribe) {
      const live = (await subscriptions.listForCustomer(customerId)).some((s) => s.status !== 'canceled');
      const { coupon } = metadata;
      const currency = config.plans.find((p) => p.key === metadata.planKey)?.currency ?? 'USD';
      const discounts = parts.discounts;
      // The coupon is checked and counted in the transaction that creates the subscription: one
      // used up since the quote (another customer took the last redemption) leaves nothing.
      const redeem =
        coupon && discounts
          ? async (tx: Db, subscriptionId: string) => {
              await discounts.redeemIn(tx, {
                code: coupon,
                customerId,
                subscriptionId,
                currency,
                again: true,
                quoted: options.hosted === true,
              });
            }
          : undefined;
      const sub = await subscriptions.subscribe(customerId, metadata.planKey, redeem);
      // A new subscription pays its first in-advance fees now; a plan change is prorated by
      // second on the period's invoice instead (credit for the old plan, charge for the new).
      if (!live) first = await invoiceFirstPeriod(sub);
    }
    // Retry open invoices at once with the new card.
    const open = await billingDb(db)
      .selectFrom('billing_invoices')
      .select('id')
      .where('customer_id', '=', customerId)
      .where('status', '=', 'issued')
      .where('amount_due', '>', '0')
      .orderBy('created_at')
      .execute();
    for (const o of open) if (o.id !== first?.id) await collect(o.id);
    return first;
  }

  /**
   * What checkout will charge at once for a new subscription to `planKey` (its first phase's
   * in-advance fees, with tax), or null when nothing (a plan change, a free or usage-only plan).
   */
  async function firstCharge(customerId: string, planKey: string, coupon?: string): Promise<string | null> {
    if ((await subscriptions.listForCustomer(customerId)).some((s) => s.status !== 'canceled')) return null;
    const quote = await quoteCheckout(planKey, coupon, customerId);
    return quote && new Decimal(quote.total).gt(0) ? quote.total : null;
  }

  /**
   * What checkout charges at once for `planKey` (its first phase's in-advance fees), with the
   * coupon's discount line when a code is given (refused with a 4xx when it cannot be redeemed),
   * and tax. Null for an unknown plan.
   */
  async function quoteCheckout(
    planKey: string,
    coupon?: string,
    customerId?: string,
  ): Promise<{ currency: string; lines: RatedLine[]; tax: string; total: string } | null> {
    const plan = config.plans.find((p) => p.key === planKey);
    if (!plan) return null;
    const phase = plan.phases?.[0] ?? { key: 'default', trial: false, rateCards: plan.rateCards ?? [] };
    const from = clock.now();
    const period = { from, to: new Date(from.getTime() + 30 * DAY) };
    const lines = rate({
      period,
      currency: plan.currency,
      segments: [
        {
          ...period,
          planKey,
          planVersion: 0,
          phaseKey: phase.key,
          trial: phase.trial ?? false,
          rateCards: phase.rateCards ?? [],
          usage: {},
        },
      ],
    }).filter((l) => l.timing === 'in_advance');
    if (coupon && parts.discounts) {
      const c = await parts.discounts.check(coupon, plan.currency, customerId);
      lines.push(...applyDiscounts(lines, [couponTerms(c)], plan.currency, period));
    }
    const { tax, total } = totals(lines, plan.currency, taxRate());
    return {
      currency: plan.currency,
      lines,
      tax: formatMoney(tax, plan.currency),
      total: formatMoney(total, plan.currency),
    };
  }

  /** The in-advance fees of a new subscription's first period, issued and charged now. */
  async function invoiceFirstPeriod(sub: BillingSubscription): Promise<Invoice | null> {
    const period = sub.currentPeriod;
    const key = `sub:${sub.id}:first:${period.from.toISOString()}`;
    const segments = await subscriptions.segments(sub, period);
    const rated = rate({
      period,
      currency: sub.currency,
      segments: segments.slice(0, 1).map((s) => ({ ...s, usage: {} })),
    }).filter((l) => l.timing === 'in_advance');
    if (rated.length === 0) return null;
    const lines = parts.withDiscounts ? await parts.withDiscounts(sub, period, rated) : rated;
    const created = await createAndIssue({
      key,
      customerId: sub.customerId,
      subscriptionId: sub.id,
      currency: sub.currency,
      period,
      lines,
      applyCredits: true,
      metadata: { planKey: sub.planKey, planVersion: sub.planVersion, first: true },
    });
    if (created) {
      await afterCreated(created);
      return mustLoad(created.id);
    }
    const row = await invoiceRowByKey(db, key);
    if (!row) return null;
    await resumeCollection(row);
    return mustLoad(row.id);
  }

  return {
    undoCheckout,
    afterPaymentMethod,
    quoteCheckout,
    /** Saves a payment method in place (sandbox test card) and collects what is open. */
    async attachCard(customerId: string, card: string): Promise<{ label: string | null }> {
      const customer = await ensureRailCustomer(customerId);
      const result = await rail.checkout({
        customerId,
        railCustomerId: customer.rail_customer_id,
        mode: 'setup',
        currency: 'USD',
        description: 'Save a card',
        successUrl: '',
        cancelUrl: '',
        metadata: { customerId },
        card,
      });
      if (result.paymentMethodId)
        await savePaymentMethod(customerId, result.paymentMethodId, result.paymentMethodLabel ?? null);
      await afterPaymentMethod(customerId, {});
      return { label: result.paymentMethodLabel ?? null };
    },
    /**
     * Portal checkout. Sandbox (`card` given): saves the card, subscribes to `planKey` and charges
     * the first invoice now. Hosted rails (Stripe): returns the Checkout URL; the subscription
     * starts when the provider's `checkout.completed` webhook arrives.
     */
    async startCheckout(
      customerId: string,
      planKey: string | null,
      checkoutOptions: { card?: string; returnUrl?: string; cancelUrl?: string; coupon?: string },
    ): Promise<{ url: string | null; invoice: Invoice | null; sessionId: string }> {
      if (planKey && !config.plans.some((p) => p.key === planKey)) {
        throw problems.badRequest(`No plan "${planKey}" in the configuration.`);
      }
      const coupon = checkoutOptions.coupon?.trim() || undefined;
      if (coupon && !planKey) throw problems.badRequest('A coupon is entered with a plan to subscribe to.');
      // A code that cannot be redeemed is refused before anything is saved or charged.
      const amount = planKey ? await firstCharge(customerId, planKey, coupon) : null;
      const customer = await ensureRailCustomer(customerId);
      const metadata: Record<string, string> = {
        customerId,
        ...(planKey ? { planKey } : {}),
        ...(coupon ? { coupon } : {}),
      };
      const result = await rail.checkout({
        customerId,
        railCustomerId: customer.rail_customer_id,
        // Rails that cannot save a card without a payment (Paddle) take the first charge here.
        mode: amount ? 'payment' : 'setup',
        ...(amount ? { amount } : {}),
        currency: config.plans.find((p) => p.key === planKey)?.currency ?? 'USD',
        description: planKey ? `Subscribe to ${planKey}` : 'Save a payment method',
        successUrl: checkoutOptions.returnUrl ?? '',
        cancelUrl: checkoutOptions.cancelUrl ?? checkoutOptions.returnUrl ?? '',
        metadata,
        card: checkoutOptions.card,
      });
      if (result.url) {
        // The coupon quoted is held while the provider's page is open, so the customer who
        // completes it gets it (the webhook turns the hold into the redemption) and later
        // customers are told "used up" when quoted. Taken since the quote: 409, no page.
        if (coupon && parts.discounts)
          await parts.discounts.hold({
            code: coupon,
            customerId,
            currency: config.plans.find((p) => p.key === planKey)?.currency ?? 'USD',
            sessionId: result.sessionId,
            expiresAt: result.expiresAt ?? new Date(clock.now().getTime() + HOSTED_SESSION_HOURS * HOUR),
          });
        return { url: result.url, invoice: null, sessionId: result.sessionId };
      }
      if (result.paymentMethodId)
        await savePaymentMethod(customerId, result.paymentMethodId, result.paymentMethodLabel ?? null);
      const invoice = await afterPaymentMethod(customerId, metadata);
      return { url: null, invoice, sessionId: result.sessionId };
    },
  };
}
