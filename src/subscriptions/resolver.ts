import type { Decimal } from 'decimal.js';
import type { CatalogService, Feature } from '../catalog/index.ts';
import type { ProblemError } from '../http/problem.ts';
import type { MeterReader } from '../metering/query.ts';
import type { ChangeFeed } from '../store/index.ts';
import { type Clock, systemClock } from '../util/clock.ts';
import type { Logger } from '../util/log.ts';
import type { AccessResolver, AccessView } from './access.ts';
import {
  quotasOf,
  type Shape,
  shapeOf,
  statusProblem,
  unknownCustomerView,
  unknownSubscriptionView,
} from './access-shapes.ts';
import { applyOverrides } from './contracts.ts';
import type { CustomerService } from './customers.ts';
import type { Subscription } from './model.ts';
import { phaseIndexAt } from './periods.ts';
import type { SubscriptionService } from './service.ts';
import { hasUpgrade, highestPublicPrices } from './top-plans.ts';

/**
 * Builds the gateway's AccessView of a (customer, subscription) and keeps it in memory until the
 * change feed says the subscription, the customer or the catalog changed (then the next request
 * rebuilds it: an upgrade lifts limits and a cancel blocks at once), or until the view's time
 * runs out (a usage period or billing period ends).
 *
 * Rules:
 * - canceled subscription → blocked, 403 `subscription-canceled`;
 * - suspended (unpaid) → blocked, 402 `payment-required` with a link to pay;
 * - past_due → still allowed (grace period; dunning suspends later);
 * - a key without a subscription uses the customer's live subscription; a customer with none
 *   gets an empty view (`subscription: null`, no entitlements, not blocked). The gateway answers
 *   such keys on routes without a feature and refuses them with 403 on routes with one
 *   (gateway/steps/entitlements.ts), so keys are best created for a subscription (the admin API
 *   and portal do);
 * - unknown customer, or a subscription of another customer → blocked, 403;
 * - checks added by other modules (`addCheck`, e.g. billing's credits at zero → 402) run on
 *   every resolve, after the cache, so they can answer from their own in-memory state.
 *
 * What a plan phase grants (shared by its subscribers) and the quotas built from it live in
 * `access-shapes.ts`; this file holds the cache and how a view is built and invalidated.
 */
export type AccessCheck = (customerId: string) => ProblemError | null;

export interface CachingAccessResolver extends AccessResolver {
  addCheck(check: AccessCheck): () => void;
  /** Drops cached views (all, or one customer's). */
  invalidate(customerId?: string): void;
  /** Metering plugs its reader in here: quota counters are then seeded with the period's usage. */
  setMeterReader(reader: MeterReader | null): void;
  /** The wired meter reader, if any (entitlement balances read usage through it). */
  meterReader(): MeterReader | null;
  close(): void;
}

export interface AccessResolverDeps {
  catalog: CatalogService;
  customers: CustomerService;
  subscriptions: SubscriptionService;
  changes: ChangeFeed;
  clock: Clock;
  log?: Logger;
  /** Usage so far in a period, to seed quota counters; null until metering is wired (seed 0). */
  meterReader?: () => MeterReader | null;
  /** Base URL of the console (portal), e.g. `https://api.example.com`. */
  consoleUrl: () => string;
}

/** Portal paths the problems link to (the portal serves them). */
export const PORTAL_SUBSCRIPTION_PATH = '/portal/subscription';
export const PORTAL_INVOICES_PATH = '/portal/invoices';

interface Entry {
  view: AccessView;
  customerId: string;
  subscriptionId: string | null;
  validUntil: number;
}

/**
 * One closure, longer than most functions: the view caches, the in-flight loads and the change
 * feed's invalidation share their maps; what a plan grants is built apart (`access-shapes.ts`).
 */
export function createAccessResolver(deps: AccessResolverDeps): CachingAccessResolver {
  const { catalog, customers, subscriptions, changes, clock, log } = deps;
  // The cache-hit path runs per request: no Date allocation with the system clock.
  const nowMs = clock === systemClock ? Date.now : () => clock.now().getTime();
  // Views by subscription id (keys tied to a subscription) and by customer id (keys without one).
  const bySubscription = new Map<string, Entry>();
  const byCustomer = new Map<string, Entry>();
  // Most customers have one subscription: a string, a Set only when there are several.
  const subscriptionsOf = new Map<string, string | Set<string>>();
  const inflight = new Map<string, Promise<AccessView>>();
  const checks: AccessCheck[] = [];
  let features: Map<string, Feature> | null = null;
  let highestPrices: Promise<Map<string, Decimal>> | null = null;
  const shapes = new Map<string, Shape>();
  // A view built while its customer (or everything) was invalidated is not cached.
  let generation = 0;
  const customerGeneration = new Map<string, number>();
  let wiredReader: MeterReader | null = null;
  const readerOf = () => wiredReader ?? deps.meterReader?.() ?? null;

  const clearAll = () => {
    generation++;
    shapes.clear();
    bySubscription.clear();
    byCustomer.clear();
    subscriptionsOf.clear();
    customerGeneration.clear();
  };
  const dropCustomer = (customerId: string) => {
    customerGeneration.set(customerId, (customerGeneration.get(customerId) ?? 0) + 1);
    byCustomer.delete(customerId);
    const ids = subscriptionsOf.get(customerId);
    if (typeof ids === 'string') bySubscription.delete(ids);
    else if (ids) for (const id of ids) bySubscription.delete(id);
    subscriptionsOf.delete(customerId);
  };
  // Subscription changes are published with a 'customers' change of their customer too (see
  // subscriptions/service.ts), which drops the views of keys without a subscription.
  const dropSubscription = (subscriptionId: string) => {
    const entry = bySubscription.get(subscriptionId);
    if (entry) dropCustomer(entry.customerId);
  };
  const unsubscribe = changes.subscribe((change) => {
    if (change.id === '*' || change.topic === 'catalog') {
      if (change.topic === 'catalog') {
        features = null;
        highestPrices = null;
      }
      clearAll();
      return;
    }
    if (change.topic === 'subscriptions') dropSubscription(change.id);
    else if (change.topic === 'customers' || change.topic === 'credits') dropCustomer(change.id);
  });

  const base = () => deps.consoleUrl().replace(/\/$/, '');
  // One string shared by every view (100k views would otherwise hold 100k copies).
  let upgradeUrlCache = { base: '', url: '' };
  const upgradeUrlOf = () => {
    const b = base();
    if (upgradeUrlCache.base !== b) upgradeUrlCache = { base: b, url: b + PORTAL_SUBSCRIPTION_PATH };
    return upgradeUrlCache.url;
  };

  function withChecks(view: AccessView, customerId: string): AccessView {
    if (view.blocked || checks.length === 0) return view;
    for (const check of checks) {
      const problem = check(customerId);
      if (problem) return { ...view, blocked: problem };
    }
    return view;
  }

  async function featureMap(): Promise<Map<string, Feature>> {
    if (!features) features = new Map((await catalog.listFeatures()).map((f) => [f.key, f]));
    return features;
  }

  async function seedUsage(feature: Feature, customerId: string, from: Date, to: Date): Promise<number> {
    const reader = readerOf();
    if (!reader || !feature.meter) return 0;
    try {
      const result = await reader.query({
        meterSlug: feature.meter,
        from,
        to,
        customer: customerId,
        filterGroupBy: Object.keys(feature.meterGroupByFilters).length
          ? feature.meterGroupByFilters
          : undefined,
      });
      return result.data.reduce((sum, row) => sum + row.value, 0);
    } catch (error) {
      log?.warn({ err: error, feature: feature.key, customerId }, 'quota seed query failed; counting from 0');
      return 0;
    }
  }

  async function build(
    customerId: string,
    subscriptionId: string | null,
  ): Promise<{ view: AccessView; validUntil: number }> {
    const upgradeUrl = upgradeUrlOf();
    const forever = Number.POSITIVE_INFINITY;
    const customer = await customers.get(customerId);
    if (!customer) {
      return { view: unknownCustomerView(customerId, upgradeUrl), validUntil: forever };
    }
    const customerInfo = { id: customer.id, name: customer.name, metadata: customer.metadata };
    let sub: Subscription | null = subscriptionId
      ? await subscriptions.get(subscriptionId)
      : await subscriptions.currentForCustomer(customerId);
    if (subscriptionId && (!sub || sub.customerId !== customerId)) {
      return { view: unknownSubscriptionView(customerInfo, upgradeUrl), validUntil: forever };
    }
    const now = clock.now();
    if (sub && sub.status !== 'canceled' && now.getTime() >= sub.currentPeriod.to.getTime()) {
      sub = await subscriptions.rollover(sub.id);
    }
    if (!sub) {
      return {
        view: {
          customer: customerInfo,
          subscription: null,
          entitlements: {},
          rateLimit: null,
          quotas: {},
          blocked: null,
          upgradeUrl,
        },
        validUntil: forever,
      };
    }
    const version = await subscriptions.planVersionOf(sub);
    highestPrices ??= catalog
      .listPublicPlans()
      .then(highestPublicPrices)
      .catch((error: unknown) => {
        highestPrices = null;
        throw error;
      });
    // Nothing to upgrade to from the top plan: its 429s and 403s carry no upgrade link.
    const upgradeTo = hasUpgrade(version.definition, await highestPrices) ? upgradeUrl : undefined;
    const phaseIndex = phaseIndexAt(sub.phases, now);
    const phase = sub.phases[phaseIndex];
    const shapeKey = `${sub.planVersionId}|${phase?.key ?? ''}|${JSON.stringify(sub.overrides)}`;
    let shape = shapes.get(shapeKey);
    if (!shape) {
      const effective = applyOverrides(version.definition, version.version, phase?.key ?? '', sub.overrides);
      shape = shapeOf(effective, await featureMap());
      shapes.set(shapeKey, shape);
    }
    const subscriptionInfo = {
      id: sub.id,
      status: sub.status,
      plan: shape.plan,
      phase: shape.phaseKey,
      currentPeriod: { from: sub.currentPeriod.from, to: sub.currentPeriod.to },
    };

    const blocked = statusProblem(sub, version.definition.name, upgradeUrl, base() + PORTAL_INVOICES_PATH);

    const { entitlements, rateLimit } = shape;
    const { quotas, validUntil: quotasUntil } = quotasOf(shape, sub, phaseIndex, now, customerId, seedUsage);
    let validUntil = quotasUntil;
    if (sub.status === 'canceled') validUntil = forever;
    return {
      view: {
        customer: customerInfo,
        subscription: subscriptionInfo,
        entitlements,
        rateLimit,
        quotas,
        blocked,
        upgradeUrl: upgradeTo,
      },
      validUntil,
    };
  }

  function lookup(customerId: string, subscriptionId: string | null): Entry | undefined {
    if (subscriptionId === null) return byCustomer.get(customerId);
    const entry = bySubscription.get(subscriptionId);
    return entry !== undefined && entry.customerId === customerId ? entry : undefined;
  }

  function remember(entry: Entry): void {
    if (entry.subscriptionId === null) {
      byCustomer.set(entry.customerId, entry);
      return;
    }
    bySubscription.set(entry.subscriptionId, entry);
    const ids = subscriptionsOf.get(entry.customerId);
    if (ids === undefined || ids === entry.subscriptionId)
      subscriptionsOf.set(entry.customerId, entry.subscriptionId);
    else if (typeof ids === 'string')
      subscriptionsOf.set(entry.customerId, new Set([ids, entry.subscriptionId]));
    else ids.add(entry.subscriptionId);
  }

  function load(customerId: string, subscriptionId: string | null): Promise<AccessView> {
    const key = subscriptionId ?? `customer:${customerId}`;
    const pending = inflight.get(key);
    if (pending) return pending;
    const startedAt = generation;
    const customerStartedAt = customerGeneration.get(customerId) ?? 0;
    const promise = build(customerId, subscriptionId)
      .then(({ view, validUntil }) => {
        if (generation === startedAt && (customerGeneration.get(customerId) ?? 0) === customerStartedAt) {
          remember({ view, customerId, subscriptionId, validUntil });
        }
        return view;
      })
      .finally(() => inflight.delete(key));
    inflight.set(key, promise);
    return promise;
  }

  return {
    resolve(customerId, subscriptionId) {
      const entry = lookup(customerId, subscriptionId);
      if (entry !== undefined && nowMs() < entry.validUntil) return withChecks(entry.view, customerId);
      return load(customerId, subscriptionId).then((view) => withChecks(view, customerId));
    },
    addCheck(check) {
      checks.push(check);
      return () => {
        const i = checks.indexOf(check);
        if (i >= 0) checks.splice(i, 1);
      };
    },
    invalidate(customerId) {
      if (customerId === undefined) clearAll();
      else dropCustomer(customerId);
    },
    setMeterReader(reader) {
      wiredReader = reader;
    },
    meterReader: readerOf,
    close() {
      unsubscribe();
      clearAll();
    },
  };
}
