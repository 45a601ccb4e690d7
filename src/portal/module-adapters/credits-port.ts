import type { CreditAccount } from '../../billing/credits.ts';
import type { PaymentRail } from '../../billing/index.ts';
import { problems } from '../../http/problem.ts';
import { Decimal, minorUnits } from '../../util/money.ts';
import type { BillingPort, CreditAccountView } from '../dependencies.ts';
import type { BillingAdapterDeps } from './billing-adapter-deps.ts';

/** Prepaid credits on the Credits page: balances per currency, top-ups and auto-recharge. */
const RECENT_CREDIT_ENTRIES = 100;

/**
 * One currency on the Credits page. The entries come without holds: every settled call leaves a
 * reservation and its release, and shown they would bury the rest.
 */
function creditAccount(
  account: CreditAccount,
  settings: Pick<CreditAccountView, 'creditsOnly' | 'autoRecharge'>,
): CreditAccountView {
  return {
    currency: account.currency,
    balance: account.balance,
    held: account.held,
    ...settings,
    nextExpiry: account.nextExpiry
      ? { amount: account.nextExpiry.amount, expiresAt: account.nextExpiry.expiresAt }
      : null,
    ledger: account.recent.map((e) => ({
      id: e.id,
      kind: e.kind,
      amount: e.amount,
      note: e.note,
      expiresAt: e.expiresAt,
      createdAt: e.createdAt,
    })),
  };
}

/** Auto-recharge as the page shows money ("10.00", not the store's "10.00000000"). */
function inMinorUnits(
  settings: Pick<CreditAccountView, 'creditsOnly' | 'autoRecharge'>,
  currency: string,
): Pick<CreditAccountView, 'creditsOnly' | 'autoRecharge'> {
  const digits = minorUnits(currency);
  const auto = settings.autoRecharge;
  return {
    creditsOnly: settings.creditsOnly,
    autoRecharge: auto
      ? {
          threshold: new Decimal(auto.threshold).toFixed(digits),
          amount: new Decimal(auto.amount).toFixed(digits),
        }
      : null,
  };
}

export function creditsPort(
  deps: BillingAdapterDeps,
): Pick<BillingPort, 'credits' | 'topUp' | 'setAutoRecharge'> {
  const { billing, subscriptions, catalog } = deps;

  /** Why this customer cannot buy credits here (409), or null. */
  async function topUpBlocked(customerId: string): Promise<string | null> {
    if (billing.rail.collection === 'manual') {
      return 'This account is billed by invoice, so credits are not bought online: ask us for a credit grant.';
    }
    const method = await billing.paymentMethod(customerId);
    if (!method?.payment_method_id) {
      return 'There is no saved payment method to charge. Subscribe to a paid plan (or pay an open invoice) with a card first: top-ups are charged to that card.';
    }
    return null;
  }

  async function creditCurrencies(customerId: string) {
    const sub = await subscriptions.currentForCustomer(customerId);
    const version =
      sub && sub.customerId === customerId && sub.status !== 'canceled'
        ? await catalog.getPlanVersionById(sub.planVersionId)
        : null;
    const billed = version?.definition.currency ?? null;
    const currencies = new Set<string>();
    if (billed) currencies.add(billed);
    const creditsOnly = billing.credits.creditsOnlyCurrency(customerId);
    if (creditsOnly) currencies.add(creditsOnly);
    for (const currency of await billing.credits.currencies(customerId)) currencies.add(currency);
    const fallback = deps.config().plans.find((p) => p.currency)?.currency ?? 'USD';
    const defaultCurrency = billed ?? creditsOnly ?? [...currencies][0] ?? fallback;
    currencies.add(defaultCurrency);
    return { defaultCurrency, currencies: [...currencies] };
  }

  return {
    async credits(customerId) {
      const { defaultCurrency, currencies } = await creditCurrencies(customerId);
      const accounts = await Promise.all(
        currencies.map(async (currency) =>
          creditAccount(
            await billing.credits.account(customerId, currency, { recent: RECENT_CREDIT_ENTRIES }),
            inMinorUnits(await billing.credits.settings(customerId, currency), currency),
          ),
        ),
      );
      const method = await billing.paymentMethod(customerId);
      return {
        paymentMethod: method?.payment_method_id
          ? (method.payment_method_label ?? 'Saved payment method')
          : null,
        topUpBlocked: await topUpBlocked(customerId),
        defaultCurrency,
        accounts,
      };
    },
    async topUp(customerId, input) {
      const blocked = await topUpBlocked(customerId);
      if (blocked) throw problems.conflict(blocked);
      // Sandbox: a saved test card that declines is known before anything is created.
      const method = await billing.paymentMethod(customerId);
      const r = billing.rail as PaymentRail & {
        cardOutcome?: (pm: string) => { code: string | null; message: string };
      };
      const outcome = method?.payment_method_id ? r.cardOutcome?.(method.payment_method_id) : undefined;
      if (outcome?.code) return { status: 'declined', message: outcome.message };
      const { payment, paymentUrl } = await billing.topUp(customerId, input.amount, input.currency);
      if (paymentUrl) return { status: 'redirect', url: paymentUrl };
      if (payment.status === 'succeeded') return { status: 'paid' };
      if (payment.status === 'failed') {
        return { status: 'declined', message: payment.failure_message || 'The payment did not go through.' };
      }
      return { status: 'pending' };
    },
    async setAutoRecharge(customerId, input) {
      // Turning it off needs nothing; on, it buys as a top-up does, so the same rule applies.
      if (input.autoRecharge) {
        const blocked = await topUpBlocked(customerId);
        if (blocked) throw problems.conflict(blocked);
      }
      await billing.credits.configure({
        customerId,
        currency: input.currency,
        autoRecharge: input.autoRecharge,
      });
    },
  };
}
