import type { ResolvedConfig } from '../config/index.ts';
import type { Store } from '../store/index.ts';
import type { Clock } from '../util/clock.ts';
import type { Logger } from '../util/log.ts';
import { createCreditsService } from './credits.ts';
import type { EventSink, SubscriptionPort, UsagePort } from './model.ts';
import { createRail, type PaymentRail, type SandboxRail } from './rails/index.ts';
import { liveRail } from './rails/live.ts';
import { type BillingService, type BillingServiceOptions, createBillingService } from './service.ts';

/**
 * What other modules may import from billing: the rating engine, the billing service (invoices,
 * billing run, dunning, checkout, credits), the payment rails, the invoice page and the ports.
 */
export { meterUsagePort, subscriptionPort } from './adapters.ts';
export { type CreditEntry, type CreditsService, createCreditsService, creditsExhausted } from './credits.ts';
export { type InvoicePageContext, renderInvoiceHtml } from './html.ts';
export {
  type BillingRouteDeps,
  billingAdminApi,
  mountBillingPublicRoutes,
  mountBillingRoutes,
} from './http.ts';
export type {
  BillingCustomer,
  BillingSegment,
  BillingSubscription,
  EventSink,
  Invoice,
  InvoiceLine,
  InvoiceStatus,
  SubscriptionPort,
  UsagePort,
} from './model.ts';
export { noEvents } from './model.ts';
export {
  createRail,
  type PaymentRail,
  type RailEvent,
  SANDBOX_CARDS,
  type SandboxRail,
} from './rails/index.ts';
export type { ChargeInput, ChargeResult, CheckoutInput, CheckoutResult } from './rails/types.ts';
export {
  priceUsage,
  type RatedLine,
  type RatingInput,
  type RatingSegment,
  rate,
  sumLines,
} from './rating.ts';
export {
  type BillingService,
  createBillingService,
  DEFAULT_RETRY_DAYS,
  type RunProgress,
  type RunSummary,
  type SimulationRow,
  type UpcomingInvoice,
} from './service.ts';

export interface BillingModule {
  service: BillingService;
  rail: PaymentRail;
}

const AUTO_RECHARGE_CHECK_MS = 5_000;

/** Builds credits, the configured rail and the billing service, and routes rail events to it. */
export function createBilling(deps: {
  store: Store;
  clock: Clock;
  log: Logger;
  config: ResolvedConfig;
  subscriptions: SubscriptionPort;
  usage: UsagePort;
  /** Where billing writes its events (notify's outbox); `noEvents` for none. */
  events: EventSink;
  mail?: BillingServiceOptions['mail'];
  portalInvoicesUrl?: () => string;
  documentLink?: BillingServiceOptions['documentLink'];
  rail?: PaymentRail;
  /** Overrides `billing.retryDays` of the config. */
  retryDays?: number[];
  onCreditsChange?: (customerId: string) => void;
}): BillingModule {
  // The configured rail follows the config in force (`deps.config` is the live view in a server).
  const rail =
    deps.rail ??
    liveRail(
      () => deps.config,
      (config) => createRail(config, deps.store.db),
      (made) => {
        if (made.name === 'sandbox') (made as SandboxRail).onEvent((event) => service.handleRailEvent(event));
      },
    );
  // Auto-recharge after real-time usage: at most one check per customer and currency every few
  // seconds (each is a few reads; the top-up itself is one at a time).
  const lastCheck = new Map<string, number>();
  const credits = createCreditsService({
    db: deps.store.db,
    clock: deps.clock,
    onChange: deps.onCreditsChange,
    onSpent: (customerId, currency) => {
      const key = `${customerId}\u0000${currency}`;
      const now = Date.now();
      if (now - (lastCheck.get(key) ?? 0) < AUTO_RECHARGE_CHECK_MS) return;
      lastCheck.set(key, now);
      service
        .autoRecharge(customerId, currency)
        .catch((error) => deps.log.error({ err: error, customerId }, 'auto-recharge after usage failed'));
    },
  });
  const service = createBillingService({
    store: deps.store,
    clock: deps.clock,
    log: deps.log,
    config: deps.config,
    subscriptions: deps.subscriptions,
    usage: deps.usage,
    rail,
    credits,
    events: deps.events,
    mail: deps.mail,
    portalInvoicesUrl: deps.portalInvoicesUrl,
    documentLink: deps.documentLink,
    retryDays: deps.retryDays,
  });
  if (deps.rail?.name === 'sandbox')
    (deps.rail as SandboxRail).onEvent((event) => service.handleRailEvent(event));
  return { service, rail };
}
