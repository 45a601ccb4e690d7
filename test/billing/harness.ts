import {
  type BillingModule,
  createBilling,
  type EventSink,
  type PaymentRail,
  subscriptionPort,
  type UsagePort,
} from '../../src/billing/index.ts';
import { createIncludedCredits } from '../../src/billing/plan-credits.ts';
import { type CatalogService, createCatalogService } from '../../src/catalog/index.ts';
import type { ResolvedConfig } from '../../src/config/index.ts';
import { memoryChangeFeed, migrate, openPGliteStore, type Store } from '../../src/store/index.ts';
import {
  type CustomerService,
  createCustomerService,
  createSubscriptionService,
  type SubscriptionService,
} from '../../src/subscriptions/index.ts';
import { ManualClock } from '../../src/util/clock.ts';
import { silentLogger } from '../../src/util/log.ts';
import { testCatalog } from '../support/catalog.ts';

/** The shared test catalog (the quickstart's plans and prices), for billing tests. */
export const billingConfig = testCatalog;

export interface Harness {
  store: Store;
  clock: ManualClock;
  config: ResolvedConfig;
  catalog: CatalogService;
  customers: CustomerService;
  subscriptions: SubscriptionService;
  billing: BillingModule;
  events: { type: string; data: Record<string, unknown> }[];
  /** Mail billing sent (dunning). */
  mails: { to: string; subject: string; text: string }[];
  /** Usage the tests set: customerId → feature → quantity (whole period). */
  usage: Map<string, Record<string, string>>;
}

export async function openHarness(
  options: {
    config?: ResolvedConfig;
    start?: string;
    rail?: (store: Store) => PaymentRail;
    store?: Store;
    /** Grant the credits plans include, wired as `startTollgate` wires them. */
    includedCredits?: boolean;
    /** Usage from somewhere real (e.g. `meterUsagePort` over metering) instead of `Harness.usage`. */
    usagePort?: (store: Store, config: ResolvedConfig) => UsagePort;
  } = {},
): Promise<Harness> {
  const store = options.store ?? (await openPGliteStore());
  await migrate(store);
  const clock = new ManualClock(options.start ?? '2026-01-01T00:00:00Z');
  const changes = memoryChangeFeed();
  const config = options.config ?? billingConfig();
  const catalog = createCatalogService({ store, changes, clock });
  const customers = createCustomerService({ store, changes, clock });
  const subscriptions = createSubscriptionService({ store, changes, clock, catalog, customers });
  await catalog.sync(config);
  const events: Harness['events'] = [];
  // Billing writes events with the change (`enqueue(tx, …)`); here they are only recorded.
  const sink: EventSink = {
    async emit(type, data) {
      events.push({ type, data });
    },
    async enqueue(_tx, type, data) {
      events.push({ type, data });
    },
  };
  // subscription.* events come from the subscription service (written with each change).
  subscriptions.onEvent((event) => {
    events.push({ type: event.type, data: { subscription: event.subscription } });
  });
  const usage = new Map<string, Record<string, string>>();
  const mails: Harness['mails'] = [];
  let subscriptionsPort = subscriptionPort({ store, config, subscriptions, customers, catalog });
  if (options.includedCredits) {
    const included = createIncludedCredits({ subscriptions, credits: () => billing.service.credits });
    subscriptions.onEvent((event) => included.onEvent(event));
    subscriptionsPort = included.wrapPort(subscriptionsPort);
  }
  const billing = createBilling({
    mail: {
      async send(message) {
        mails.push(message);
      },
    },
    portalInvoicesUrl: () => 'http://portal.test/portal/invoices',
    store,
    clock,
    log: silentLogger,
    config,
    subscriptions: subscriptionsPort,
    usage: options.usagePort?.(store, config) ?? {
      async usage(customerId, _sub, features) {
        const u = usage.get(customerId) ?? {};
        return Object.fromEntries(features.map((f) => [f, u[f] ?? '0']));
      },
    },
    events: sink,
    ...(options.rail ? { rail: options.rail(store) } : {}),
  });
  return { store, clock, config, catalog, customers, subscriptions, billing, events, usage, mails };
}

export const DAY = 86_400_000;

/** The invoice mail at issue and the receipt (documents/mails.ts), for tests about other mails. */
export const isDocumentMail = (m: { subject: string }) =>
  /^Invoice \S+ from /.test(m.subject) || m.subject.startsWith('Receipt for invoice ');
