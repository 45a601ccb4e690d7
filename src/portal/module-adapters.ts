import type { CreditAccount } from '../billing/credits.ts';
import {
  type BillingService,
  type Invoice,
  type PaymentRail,
  rate,
  SANDBOX_CARDS,
  sumLines,
} from '../billing/index.ts';
import type { CatalogService, PlanDefinition } from '../catalog/index.ts';
import type { RateCardConfig, ResolvedConfig } from '../config/index.ts';
import { ProblemError, problems } from '../http/problem.ts';
import type { ApiKey, KeysService } from '../keys/index.ts';
import {
  type CustomerService,
  type EntitlementBalanceReader,
  phaseIndexAt,
  type Subscription,
  type SubscriptionService,
} from '../subscriptions/index.ts';
import type { Clock } from '../util/clock.ts';
import { Decimal, formatMoney, minorUnits } from '../util/money.ts';
import type {
  BillingPort,
  CatalogPort,
  CreditAccountView,
  CustomersPort,
  InvoiceSummary,
  KeysPort,
  KeyView,
  MoneyLine,
  SubscriptionsPort,
  SubscriptionView,
} from './dependencies.ts';
import { definitionAsPlan, planView } from './plans.ts';

/**
 * Adapters from the modules' services to the portal's ports. Each adapter is scoped by the
 * customer id it is given: an id of another organisation behaves as an unknown id.
 */
function iso(value: Date | string | null | undefined): string | null {
  return value ? new Date(value).toISOString() : null;
}

function keyView(key: ApiKey): KeyView {
  const rolling = key.status === 'active' && key.rolledTo !== null;
  return {
    id: key.id,
    name: key.name,
    prefix: key.prefix,
    customerId: key.customerId,
    subscriptionId: key.subscriptionId,
    createdAt: iso(key.createdAt)!,
    expiresAt: iso(key.expiresAt),
    lastUsedAt: iso(key.lastUsedAt),
    revokedAt: iso(key.revokedAt),
    graceUntil: rolling ? iso(key.expiresAt) : null,
    status: rolling ? 'rolling' : key.status,
  };
}

/**
 * An invoice's `lastPaymentError` is `code: message` (e.g. `card_declined: Your card was
 * declined.`) for operators; the customer reads the message alone.
 */
export function customerMessage(lastPaymentError: string): string {
  return lastPaymentError.replace(/^[a-z][a-z0-9_]*:\s*/, '') || lastPaymentError;
}

export function keysPort(keys: KeysService): KeysPort {
  async function own(customerId: string, keyId: string): Promise<ApiKey> {
    const found = (await keys.list(customerId)).find((k) => k.id === keyId);
    if (!found) {
      throw problems.notFound('No such API key.');
    }
    return found;
  }
  return {
    async list(customerId) {
      return (await keys.list(customerId)).map(keyView);
    },
    async create(customerId, input) {
      const created = await keys.create({
        customerId,
        name: input.name,
        expiresAt: input.expiresAt,
        subscriptionId: input.subscriptionId,
      });
      return { key: keyView(created.key), secret: created.secret };
    },
    async roll(customerId, keyId) {
      await own(customerId, keyId);
      const created = await keys.roll(keyId);
      return { key: keyView(created.key), secret: created.secret };
    },
    async revoke(customerId, keyId) {
      await own(customerId, keyId);
      await keys.revoke(keyId);
    },
  };
}

// ---- customers, catalog, subscriptions ----------------------------------------------------------

export function customersPort(customers: CustomerService): CustomersPort {
  return {
    async create(input) {
      const customer = await customers.create({ name: input.name, email: input.email });
      return { id: customer.id, name: customer.name };
    },
    async get(id) {
      const c = await customers.get(id);
      return c ? { id: c.id, name: c.name, email: c.email, createdAt: iso(c.createdAt)! } : null;
    },
    async list() {
      const list = await customers.list({ limit: 500 });
      return list.map((c) => ({ id: c.id, name: c.name, email: c.email, createdAt: iso(c.createdAt)! }));
    },
  };
}

/** Sum of the flat, feature-less prices of a plan's last phase: what "upgrade" vs "downgrade" compares. */
function basePrice(definition: PlanDefinition): Decimal {
  const phase = definition.phases[definition.phases.length - 1];
  let sum = new Decimal(0);
  for (const card of phase?.rateCards ?? []) {
    if (card.price?.type === 'flat' && !card.feature) sum = sum.plus(card.price.amount);
  }
  return sum;
}

export function catalogPort(catalog: CatalogService, config: () => ResolvedConfig): CatalogPort {
  return {
    async publicPlans() {
      const versions = await catalog.listPublicPlans();
      return versions.map((v) => planView(config(), definitionAsPlan(v.definition)));
    },
  };
}

export function subscriptionsPort(deps: {
  subscriptions: SubscriptionService;
  catalog: CatalogService;
  balances: EntitlementBalanceReader;
  clock: Clock;
}): SubscriptionsPort {
  const { subscriptions, catalog, clock } = deps;

  async function view(sub: Subscription): Promise<SubscriptionView> {
    const version = await catalog.getPlanVersionById(sub.planVersionId);
    const phase = sub.phases[phaseIndexAt(sub.phases, clock.now())];
    return {
      id: sub.id,
      customerId: sub.customerId,
      status: sub.status,
      plan: { key: sub.planKey, name: version?.definition.name ?? sub.planKey, version: sub.planVersion },
      phase: phase?.key ?? 'default',
      currentPeriod: {
        from: new Date(sub.currentPeriod.from).toISOString(),
        to: new Date(sub.currentPeriod.to).toISOString(),
      },
      cancelAtPeriodEnd: sub.cancelAtPeriodEnd,
      pendingChange: sub.pendingChange
        ? {
            planKey: sub.pendingChange.planKey,
            effectiveAt: new Date(sub.pendingChange.effectiveAt).toISOString(),
          }
        : null,
      currency: version?.definition.currency ?? 'USD',
    };
  }

  async function own(customerId: string, subscriptionId: string): Promise<Subscription> {
    const sub = await subscriptions.get(subscriptionId);
    if (!sub || sub.customerId !== customerId) throw problems.notFound('No such subscription.');
    return sub;
  }

  return {
    async current(customerId) {
      const sub = await subscriptions.currentForCustomer(customerId);
      return sub && sub.customerId === customerId ? view(sub) : null;
    },
    async subscribe(customerId, planKey) {
      return view(await subscriptions.subscribe({ customerId, planKey }));
    },
    async changePlan(customerId, subscriptionId, planKey) {
      const sub = await own(customerId, subscriptionId);
      const timing = await changeTiming(catalog, sub, planKey);
      const changed =
        timing === 'immediate'
          ? await subscriptions.upgrade(sub.id, planKey)
          : await subscriptions.downgrade(sub.id, planKey);
      return { subscription: await view(changed), timing };
    },
    async cancel(customerId, subscriptionId) {
      const sub = await own(customerId, subscriptionId);
      return view(await subscriptions.cancel(sub.id, { timing: 'period_end' }));
    },
    async resume(customerId, subscriptionId) {
      const sub = await own(customerId, subscriptionId);
      return view(await subscriptions.resume(sub.id));
    },
    async balances(customerId) {
      const result = await deps.balances(customerId).catch((error: unknown) => {
        if (error instanceof ProblemError && error.status === 404) return null;
        throw error;
      });
      if (!result) return [];
      return result.balances
        .filter((b) => b.type === 'metered')
        .map((b) => ({
          featureKey: b.featureKey,
          featureName: b.featureName,
          meterSlug: null,
          limit: b.limit,
          usage: b.usage ?? 0,
          soft: b.softLimit,
          periodStart: b.periodStart ?? '',
          resetAt: b.resetAt ?? '',
        }));
    },
  };
}

/** Upgrades (a higher base price) apply now, prorated; downgrades and equal prices at period end. */
export async function changeTiming(
  catalog: CatalogService,
  sub: Subscription,
  planKey: string,
): Promise<'immediate' | 'period_end'> {
  const [current, target] = await Promise.all([
    catalog.getPlanVersionById(sub.planVersionId),
    catalog.getLatestPlanVersion(planKey),
  ]);
  if (!target) throw problems.notFound(`No plan "${planKey}".`);
  if (!current) return 'immediate';
  return basePrice(target.definition).gt(basePrice(current.definition)) ? 'immediate' : 'period_end';
}

// ---- billing ------------------------------------------------------------------------------------

function invoiceSummary(invoice: Invoice): InvoiceSummary {
  const status = invoice.status === 'issued' ? 'open' : invoice.status;
  return {
    id: invoice.id,
    number: invoice.number ?? invoice.id,
    status,
    currency: invoice.currency,
    total: invoice.total,
    periodFrom: invoice.periodFrom,
    periodTo: invoice.periodTo,
    issuedAt: invoice.issuedAt,
    dueAt: invoice.dueAt,
    paidAt: invoice.paidAt,
  };
}

function lineOf(
  line: { description: string; amount: string; quantity: string; kind: string; featureKey: string | null },
  featureNames: Map<string, string> = new Map(),
): MoneyLine {
  // Usage lines of rate cards without a name carry the bare key; show the feature's name instead.
  const named =
    line.featureKey && line.description === line.featureKey ? featureNames.get(line.featureKey) : undefined;
  return {
    description: named ?? line.description,
    amount: line.amount,
    quantity: line.quantity,
    kind: line.kind === 'usage' || line.kind === 'minimum_spend' ? 'usage' : 'flat',
  };
}

/** The rate cards a plan runs with after any trial (a plan change skips the trial). */
function paidRateCards(definition: PlanDefinition): RateCardConfig[] {
  const paid = definition.phases.filter((p) => !p.trial);
  return (paid[0] ?? definition.phases[definition.phases.length - 1])?.rateCards ?? [];
}

// ---- prepaid credits ----------------------------------------------------------------------------

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

export function billingPort(deps: {
  billing: BillingService;
  subscriptions: SubscriptionService;
  customers: CustomerService;
  catalog: CatalogService;
  clock: Clock;
  config: () => ResolvedConfig;
}): BillingPort {
  const { billing, subscriptions, catalog, clock } = deps;
  const railConfig = deps.config().billing.rail;
  const rail: BillingPort['rail'] =
    typeof railConfig === 'string'
      ? railConfig
      : // Paddle checks out on a hosted page too: the portal redirects, as for Stripe.
        railConfig.type === 'stripe' || railConfig.type === 'paddle' || railConfig.type === 'recurly'
        ? 'stripe'
        : railConfig.type;

  const featureNames = async () => new Map((await catalog.listFeatures()).map((f) => [f.key, f.name]));

  async function own(customerId: string, invoiceId: string): Promise<Invoice | null> {
    const invoice = await billing.get(invoiceId);
    return invoice && invoice.customerId === customerId ? invoice : null;
  }

  /** Sandbox: the outcome of a test card before anything is created, so a decline changes nothing. */
  function sandboxDecline(card: string): string | null {
    const r = billing.rail as PaymentRail & {
      cardOutcome?: (pm: string) => { code: string | null; message: string };
    };
    if (r.name !== 'sandbox' || !r.cardOutcome) return null;
    const digits = card.replace(/[\s-]/g, '');
    if (!SANDBOX_CARDS[digits]) return null; // the rail explains which test cards exist
    const outcome = r.cardOutcome(`pm_sbx_${digits}_check`);
    return outcome.code ? outcome.message : null;
  }

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
    rail,
    railName: billing.rail.name,
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
    async checkout(customerId, input) {
      if (rail === 'sandbox' && !input.card) {
        throw problems.badRequest('Enter a card: the sandbox rail takes test card numbers.');
      }
      const result = await billing.startCheckout(customerId, input.planKey, {
        card: input.card?.number,
        returnUrl: input.successUrl,
        cancelUrl: input.cancelUrl,
        ...(input.coupon ? { coupon: input.coupon } : {}),
      });
      if (result.url) return { status: 'redirect', url: result.url };
      if (result.invoice && result.invoice.status !== 'paid') {
        await (billing.rail as PaymentRail & { drain?: () => Promise<void> }).drain?.();
        // A declined first charge undoes the checkout (invoice void, subscription canceled).
        const fresh = await billing.get(result.invoice.id);
        if ((fresh?.status === 'void' || fresh?.status === 'issued') && fresh.lastPaymentError) {
          return { status: 'declined', message: customerMessage(fresh.lastPaymentError) };
        }
      }
      const sub = await subscriptions.currentForCustomer(customerId);
      if (!sub) throw problems.internal('Checkout finished without a subscription.');
      const view = await subscriptionsPort({
        subscriptions,
        catalog,
        balances: async () => ({
          customerId,
          subscriptionId: null,
          planKey: null,
          planVersion: null,
          status: null,
          balances: [],
        }),
        clock,
      }).current(customerId);
      return { status: 'active', subscription: view!, invoiceId: result.invoice?.id ?? null };
    },
    async quoteCheckout(customerId, planKey, coupon) {
      const quote = await billing.quoteCheckout(planKey, coupon, customerId);
      if (!quote) throw problems.notFound(`No plan "${planKey}".`);
      const discount = quote.lines
        .filter((l) => l.kind === 'discount')
        .reduce((acc, l) => acc.add(l.amount), new Decimal(0));
      return {
        currency: quote.currency,
        lines: quote.lines.map((l) => ({ description: l.description, amount: l.amount })),
        discount: formatMoney(discount, quote.currency),
        tax: quote.tax,
        total: quote.total,
      };
    },
    async previewChange(customerId, subscriptionId, planKey) {
      const sub = await subscriptions.get(subscriptionId);
      if (!sub || sub.customerId !== customerId) throw problems.notFound('No such subscription.');
      const timing = await changeTiming(catalog, sub, planKey);
      const [current, target] = await Promise.all([
        catalog.getPlanVersionById(sub.planVersionId),
        catalog.getLatestPlanVersion(planKey),
      ]);
      if (!current || !target) throw problems.notFound(`No plan "${planKey}".`);
      const currency = current.definition.currency;
      if (timing === 'period_end') return { amount: formatMoney(0, currency), currency, lines: [], timing };
      const now = clock.now();
      const period = { from: new Date(sub.currentPeriod.from), to: new Date(sub.currentPeriod.to) };
      const effective = await subscriptions.effectiveRateCards(sub, now);
      const lines = rate({
        period,
        currency,
        segments: [
          {
            from: period.from,
            to: now,
            planKey: sub.planKey,
            planVersion: sub.planVersion,
            rateCards: effective.rateCards,
            usage: {},
          },
          {
            from: now,
            to: period.to,
            planKey,
            planVersion: target.version,
            rateCards: paidRateCards(target.definition),
            usage: {},
          },
        ],
      }).filter((l) => l.kind === 'proration_credit' || l.kind === 'proration_charge');
      return {
        amount: sumLines(lines, currency),
        currency,
        lines: lines.map((l) => lineOf(l)),
        timing,
      };
    },
    async upcoming(customerId) {
      const sub = await subscriptions.currentForCustomer(customerId);
      if (!sub || sub.customerId !== customerId || sub.status === 'canceled') return null;
      const [up, names, invoices] = await Promise.all([
        billing.upcoming(sub.id),
        featureNames(),
        billing.list({ customerId, subscriptionId: sub.id, limit: 100 }),
      ]);
      // Cost to date includes what this period already invoiced (e.g. the in-advance fee at checkout).
      const invoiced = invoices.filter(
        (i) =>
          i.customerId === customerId &&
          new Date(i.periodFrom).getTime() === new Date(up.periodFrom).getTime() &&
          (i.status === 'issued' || i.status === 'paid'),
      );
      const lines: MoneyLine[] = [
        ...invoiced.map((i) => ({
          description: `Invoiced (${i.number ?? i.id})`,
          amount: i.subtotal,
          kind: 'flat' as const,
        })),
        ...up.costToDate.lines.map((l) => lineOf(l, names)),
      ];
      const total = lines.reduce((sum, l) => sum.plus(l.amount), new Decimal(0));
      // Billing's forecast rates the extrapolated usage (tiers included), so it is used as is.
      const already = invoiced.reduce((sum, i) => sum.plus(i.subtotal), new Decimal(0));
      const forecast = up.forecast.lines.reduce((sum, l) => sum.plus(l.amount), already);
      return {
        currency: up.currency,
        total: formatMoney(total, up.currency),
        forecast: formatMoney(forecast, up.currency),
        lines,
        periodFrom: up.periodFrom,
        periodTo: up.periodTo,
      };
    },
    async listInvoices(customerId) {
      const invoices = await billing.list({ customerId, limit: 100 });
      // A checkout undone by a declined first charge leaves a void invoice the customer never owed.
      const undoneCheckout = (i: Invoice) =>
        i.status === 'void' && i.metadata.first === true && i.lastPaymentError !== null;
      return invoices
        .filter((i) => i.customerId === customerId && i.status !== 'draft' && !undoneCheckout(i))
        .map(invoiceSummary);
    },
    async getInvoice(customerId, invoiceId) {
      const invoice = await own(customerId, invoiceId);
      if (!invoice || invoice.status === 'draft') return null;
      const names = await featureNames();
      return {
        ...invoiceSummary(invoice),
        subtotal: invoice.subtotal,
        tax: invoice.tax,
        lines: invoice.lines.map((l) => lineOf(l, names)),
        paymentUrl: invoice.paymentUrl,
        payments: (await billing.payments(invoice.id))
          .filter((p) => p.purpose === 'invoice' || p.purpose === 'refund')
          .map((p) => ({
            id: p.id,
            kind: p.purpose === 'refund' ? ('refund' as const) : ('payment' as const),
            status: p.status === 'succeeded' || p.status === 'failed' ? p.status : ('pending' as const),
            amount: formatMoney(p.amount, p.currency),
            currency: p.currency,
            createdAt: new Date(p.created_at).toISOString(),
          })),
        amountDue: invoice.status === 'paid' ? formatMoney(0, invoice.currency) : invoice.amountDue,
        creditNotes: (await billing.creditNotes.list({ invoiceId: invoice.id })).map((n) => ({
          id: n.id,
          number: n.number,
          status: n.status,
          prePaymentAmount: n.prePaymentAmount,
          voidedAt: n.voidedAt,
          reason: n.reason,
          memo: n.memo,
          total: n.total,
          tax: n.tax,
          refundAmount: n.refundAmount,
          creditAmount: n.creditAmount,
          outOfBandAmount: n.outOfBandAmount,
          currency: n.currency,
          issuedAt: n.issuedAt,
          lines: n.lines.map((l) => ({ description: l.description, amount: l.amount })),
        })),
      };
    },
    async invoiceHtml(customerId, invoiceId) {
      const invoice = await own(customerId, invoiceId);
      if (!invoice || invoice.status === 'draft') return null;
      return billing.documents.html(invoice);
    },
    async invoicePdf(customerId, invoiceId) {
      const invoice = await own(customerId, invoiceId);
      if (!invoice || invoice.status === 'draft') return null;
      return { filename: `${invoice.number ?? invoice.id}.pdf`, pdf: await billing.documents.pdf(invoice) };
    },
    async payInvoice(customerId, invoiceId, card) {
      const invoice = await own(customerId, invoiceId);
      if (!invoice) throw problems.notFound('No such invoice.');
      // Its charge waits on the customer (Paddle): pay through that link, never a second charge.
      if (invoice.paymentUrl) return { status: 'redirect', url: invoice.paymentUrl };
      const attemptsBefore = invoice.paymentAttempts;
      if (rail === 'sandbox' && card) {
        const declined = sandboxDecline(card.number);
        if (declined) return { status: 'declined', message: declined };
        // Saving the card retries every open invoice of the customer at once.
        await billing.attachCard(customerId, card.number);
      } else if (rail === 'stripe') {
        const result = await billing.startCheckout(customerId, null, {});
        if (result.url) return { status: 'redirect', url: result.url };
      }
      let after = await billing.get(invoiceId);
      if (after?.status === 'issued' && after.paymentAttempts === attemptsBefore)
        await billing.collect(invoiceId);
      // The sandbox confirms charges by webhook a tick later, as a provider would.
      const sandbox = billing.rail as PaymentRail & { drain?: () => Promise<void> };
      await sandbox.drain?.();
      after = await billing.get(invoiceId);
      if (after?.status === 'paid') return { status: 'paid' };
      if (after?.paymentUrl) return { status: 'redirect', url: after.paymentUrl };
      return {
        status: 'declined',
        message: after?.lastPaymentError
          ? customerMessage(after.lastPaymentError)
          : 'The payment did not go through.',
      };
    },
  };
}
