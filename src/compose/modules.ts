import { Registry } from 'prom-client';
import { createInvoiceLinks } from '../billing/documents/index.ts';
import {
  type BillingService,
  createBilling,
  meterUsagePort,
  type SubscriptionPort,
  subscriptionPort,
} from '../billing/index.ts';
import { createIncludedCredits } from '../billing/plan-credits.ts';
import { type CatalogService, createCatalogService } from '../catalog/index.ts';
import { GatewayCredits } from '../gateway/credits.ts';
import { Gateway, GatewayMetrics } from '../gateway/index.ts';
import { CachedKeyVerifier, KeysService } from '../keys/index.ts';
import { type Metering, startMetering, subjectKeyOwners } from '../metering/index.ts';
import {
  createMailer,
  createWebhookService,
  liveCustomersOf,
  type Mailer,
  recentCustomersOf,
  type UsageThresholds,
  usageThresholds,
  type WebhookService,
} from '../notify/index.ts';
import {
  type CachingAccessResolver,
  type CustomerService,
  createAccessResolver,
  createBalanceReader,
  createCustomerService,
  createSubscriptionService,
  type EntitlementBalanceReader,
  type SubscriptionService,
} from '../subscriptions/index.ts';
import type { Backends } from './backends.ts';
import type { StopList } from './stop-list.ts';

/** Phase 2: the domain modules, each built once with what it needs (no setters, no late `let`s). */
export interface Modules {
  readonly catalog: CatalogService;
  readonly customers: CustomerService;
  readonly subscriptions: SubscriptionService;
  readonly metering: Metering;
  readonly access: CachingAccessResolver;
  readonly balances: EntitlementBalanceReader;
  readonly webhooks: WebhookService;
  readonly mailer: Mailer;
  readonly billing: BillingService;
  /** Billing's view of subscriptions (with the credits a plan includes). */
  readonly billingSubscriptions: SubscriptionPort;
  readonly keys: KeysService;
  /** The gateway's key cache; its `flushUsage` is a job of phase 4. */
  readonly keyVerifier: CachedKeyVerifier;
  readonly gateway: Gateway;
  readonly metrics: Registry;
  readonly usageThresholds: UsageThresholds;
}

/** Where the console is reached, for links in problems and mails (known once it listens). */
export type ConsoleBase = () => string;

/** The modules in the order they need each other; each stage below takes what the earlier ones built. */
export async function buildModules(
  b: Backends,
  consoleBase: ConsoleBase,
  stopping: StopList,
): Promise<Modules> {
  const core = await buildCore(b, stopping);
  const metering = await buildMetering(b, stopping);
  const { access, balances, mailer } = buildAccessAndMail(b, consoleBase, stopping, { ...core, metering });
  const billed = await buildBilling(b, consoleBase, { ...core, metering, access, mailer });
  const served = buildGateway(b, stopping, { ...core, ...billed, metering, access });
  const thresholds = buildUsageThresholds(b, { ...core, metering, balances });
  return {
    ...core,
    metering,
    access,
    balances,
    mailer,
    ...billed,
    ...served,
    usageThresholds: thresholds,
  };
}

type Core = Pick<Modules, 'catalog' | 'customers' | 'subscriptions' | 'webhooks'>;

/** The catalog (published at start-up), customers, outgoing webhooks and subscriptions. */
async function buildCore(b: Backends, stopping: StopList): Promise<Core> {
  const { store, changes, clock, log, role } = b;
  // Modules that take a plain config object get the live view: they read the config in force.
  const config = b.config.view;

  // Catalog, customers, subscriptions. The config's plans are published at start-up (unchanged
  // plans publish nothing); the CLI pushes explicitly.
  const catalog = createCatalogService({ store, changes, clock });
  if (role !== 'cli') {
    const pushed = await catalog.sync(config);
    for (const plan of pushed.plans) {
      if (plan.action !== 'unchanged')
        log.info({ plan: plan.key, action: plan.action, version: plan.toVersion }, 'catalog');
    }
  }
  const customers = createCustomerService({ store, changes, clock });
  // Outgoing webhooks: an outbox written in the transaction of each change (subscriptions below).
  const webhooks = createWebhookService({
    store,
    clock,
    log: log.child({ module: 'webhooks' }),
    // Outgoing calls reach public https addresses only; http is allowed under `tollgate dev`.
    policy: () => ({ allowHosts: b.config.current().notifications.allowHosts, requireHttps: !b.dev }),
  });
  stopping.push(() => webhooks.stop());
  const subscriptions = createSubscriptionService({
    store,
    changes,
    clock,
    catalog,
    customers,
    outbox: async (tx, events) => {
      for (const event of events) {
        const data = event.previous
          ? { subscription: event.subscription, previous: event.previous }
          : { subscription: event.subscription };
        await webhooks.enqueue(tx, event.type, data, { customerId: event.subscription.customerId });
      }
    },
  });

  return { catalog, customers, subscriptions, webhooks };
}

/** Usage metering, with its consumer where this role runs one. */
async function buildMetering(b: Backends, stopping: StopList): Promise<Metering> {
  const { store, changes, clock, log, role } = b;
  const config = b.config.view;
  // Metering first among the readers of usage: access, billing and the gateway all take it.
  // Without NATS the gateway appends to the embedded usage log under <dataDir>/usage-log and the
  // consumer (roles all/worker) moves it into the store; with NATS the JetStream consumer
  // (worker role) feeds the same batch writer.
  const embeddedLog = !b.natsUsage;
  const metering = await startMetering({
    store,
    config,
    clock,
    log: log.child({ module: 'metering' }),
    dataDir: b.dataDir,
    openLog: embeddedLog && (role === 'all' || role === 'gateway'),
    runConsumer: embeddedLog && (role === 'all' || role === 'worker'),
    changes,
  });
  stopping.push(() => metering.stop());
  if (b.natsUsage) await b.scaleOut.startUsageConsumer((events) => metering.ingest.writeBatch(events));

  return metering;
}

/** Access decisions and balances (they read metered usage), and the mailer. */
function buildAccessAndMail(
  b: Backends,
  consoleBase: ConsoleBase,
  stopping: StopList,
  built: Core & Pick<Modules, 'metering'>,
): Pick<Modules, 'access' | 'balances' | 'mailer'> {
  const { store, changes, clock, log } = b;
  const config = b.config.view;
  const { catalog, customers, subscriptions, metering } = built;
  const access = createAccessResolver({
    catalog,
    customers,
    subscriptions,
    changes,
    clock,
    log: log.child({ module: 'access' }),
    meterReader: () => metering.reader, // quota counters start from the period's metered usage
    consoleUrl: consoleBase,
  });
  stopping.push(() => access.close());
  const balances = createBalanceReader({ access, catalog, customers, clock, counters: b.counters });

  // Mail (SMTP or the dev mailbox).
  const mailer = createMailer({ config, store, clock, log: log.child({ module: 'mail' }) });
  stopping.push(() => mailer.close());

  return { access, balances, mailer };
}

/** Billing, with the credits plans include and the credits check on access. */
async function buildBilling(
  b: Backends,
  consoleBase: ConsoleBase,
  built: Core & Pick<Modules, 'metering' | 'access' | 'mailer'>,
): Promise<Pick<Modules, 'billing' | 'billingSubscriptions'>> {
  const { store, changes, clock, log } = b;
  const config = b.config.view;
  const { catalog, customers, subscriptions, webhooks, metering, access, mailer } = built;
  // Billing. Credits a plan includes are granted on activation and at every period roll-over;
  // they wrap the port billing is built with, hence the one closure over `billing` below.
  const includedCredits = createIncludedCredits({
    subscriptions,
    credits: () => billing.credits,
    log: log.child({ module: 'billing' }),
  });
  subscriptions.onEvent((event) => includedCredits.onEvent(event));
  const billingSubscriptions = includedCredits.wrapPort(
    subscriptionPort({ store, config, subscriptions, customers, catalog }),
  );
  const invoiceLinks = createInvoiceLinks(b.adminToken);
  const { service: billing } = createBilling({
    store,
    clock,
    log: log.child({ module: 'billing' }),
    config,
    subscriptions: billingSubscriptions,
    usage: meterUsagePort(
      config,
      () => metering.reader,
      store.db,
      () => clock.now(),
    ),
    events: webhooks,
    mail: mailer,
    portalInvoicesUrl: () => `${consoleBase()}/portal/invoices`,
    // Mailed invoices link to their PDF and page with a signed URL (never the admin token).
    documentLink: (invoiceId, format) => `${consoleBase()}${invoiceLinks.sign(invoiceId, format)}`,
    onCreditsChange: (customerId) => void changes.publish({ topic: 'credits', id: customerId }),
  });
  // A coupon code both in the config and in the store is a config error, refused at start.
  await billing.discounts.assertConfigCodes(config);
  await billing.credits.refresh();
  changes.subscribe((change) => {
    if (change.topic === 'credits') void billing.credits.refresh(change.id === '*' ? undefined : change.id);
  });
  access.addCheck((customerId) => billing.credits.accessCheck(customerId));

  return { billing, billingSubscriptions };
}

/** API keys, the metrics registry and the gateway, recompiled on every config change. */
function buildGateway(
  b: Backends,
  stopping: StopList,
  built: Core & Pick<Modules, 'metering' | 'access' | 'billing'>,
): Pick<Modules, 'keys' | 'keyVerifier' | 'gateway' | 'metrics'> {
  const { store, changes, clock, log } = b;
  const config = b.config.view;
  const { subscriptions, webhooks, metering, access, billing } = built;
  // Keys and the gateway (it listens in the last phase).
  const keys = new KeysService({ store, changes, clock, config });
  const keyVerifier = new CachedKeyVerifier({ repo: keys.repo, changes, clock, log });
  stopping.push(() => keyVerifier.close());
  const metrics = new Registry();
  b.scaleOut.registerMetrics(metrics);
  metering.registerMetrics(metrics);
  webhooks.registerMetrics(metrics);
  const gateway = new Gateway({
    config: b.config.current(),
    verifier: keyVerifier,
    counters: b.counters,
    log: log.child({ module: 'gateway' }),
    metrics: new GatewayMetrics(metrics),
    access,
    quotaSeed: (_customerId, quota) => quota.seed?.() ?? Promise.resolve(0),
    // Scale-out: usage goes to JetStream (acknowledged before the response ends).
    usageLog: b.scaleOut.usageLog ?? metering.usageLog,
    // Credits-only customers: credits reserved before each call and settled from its usage.
    credits: new GatewayCredits(
      {
        creditsOnlyCurrency: (customerId) => billing.credits.creditsOnlyCurrency(customerId),
        reserve: (input) => billing.credits.reserve(input),
        settle: (input) => billing.credits.settle(input),
        rateCards: async (subscriptionId) =>
          (await subscriptions.effectiveRateCards(subscriptionId)).rateCards,
      },
      log.child({ module: 'gateway' }),
    ),
  });
  // The gateway compiles routes and policies from the config: it recompiles on every change.
  b.config.onChange((next) => gateway.reload(next));

  return { keys, keyVerifier, gateway, metrics };
}

function buildUsageThresholds(
  b: Backends,
  built: Core & Pick<Modules, 'metering' | 'balances'>,
): UsageThresholds {
  const { clock, log } = b;
  const { webhooks, subscriptions, metering, balances } = built;
  // usage.threshold webhooks from the entitlement balances (a job of phase 4).
  const thresholds = usageThresholds({
    clock,
    log: log.child({ module: 'usage-thresholds' }),
    webhooks,
    thresholds: () => b.config.current().notifications.usageThresholds,
    customers: liveCustomersOf(subscriptions),
    recentCustomers: recentCustomersOf(
      () => metering.reader,
      () => b.config.current().meters.map((m) => m.slug),
      (subjects) => subjectKeyOwners(b.store, subjects),
    ),
    balances,
    meterOf: (key) => b.config.current().features.find((f) => f.key === key)?.meter ?? null,
  });

  return thresholds;
}
