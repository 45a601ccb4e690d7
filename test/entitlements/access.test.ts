import { beforeAll, describe, expect, it } from 'vitest';
import { type CatalogService, createCatalogService } from '../../src/catalog/index.ts';
import { ProblemError } from '../../src/http/problem.ts';
import type { MeterQueryParams, MeterReader } from '../../src/metering/query.ts';
import { memoryChangeFeed, migrate, openPGliteStore, type Store } from '../../src/store/index.ts';
import {
  type CachingAccessResolver,
  type CustomerService,
  createAccessResolver,
  createCustomerService,
  createSubscriptionService,
  type SubscriptionService,
} from '../../src/subscriptions/index.ts';
import { ManualClock } from '../../src/util/clock.ts';
import { catalogConfig } from './fixtures.ts';

let store: Store;
let catalog: CatalogService;
let customers: CustomerService;
let subscriptions: SubscriptionService;
let access: CachingAccessResolver;
const clock = new ManualClock('2026-03-10T12:00:00Z');
const changes = memoryChangeFeed();
const queries: MeterQueryParams[] = [];
const reader: MeterReader = {
  async query(params) {
    queries.push(params);
    return { data: [{ value: 40, windowStart: '', windowEnd: '', subject: null, groupBy: {} }] };
  },
};

beforeAll(async () => {
  store = await openPGliteStore();
  await migrate(store);
  catalog = createCatalogService({ store, changes, clock });
  customers = createCustomerService({ store, changes, clock });
  subscriptions = createSubscriptionService({ store, changes, clock, catalog, customers });
  access = createAccessResolver({
    catalog,
    customers,
    subscriptions,
    changes,
    clock,
    consoleUrl: () => 'https://console.example.com/',
  });
  await catalog.sync(catalogConfig());
});

const setup = async (planKey: string) => {
  const customer = await customers.create({ name: `Org on ${planKey}` });
  const sub = await subscriptions.subscribe({ customerId: customer.id, planKey });
  return { customer, sub };
};

describe('access view', () => {
  it('free plan: metered entitlement with a hard quota, the plan rate limit and the upgrade link', async () => {
    const { customer, sub } = await setup('free');
    const view = await access.resolve(customer.id, sub.id);
    expect(view.blocked).toBeNull();
    expect(view.subscription).toMatchObject({
      id: sub.id,
      status: 'active',
      plan: { key: 'free', version: 1 },
    });
    expect(view.entitlements.api_requests).toMatchObject({ type: 'metered', hasAccess: true, limit: 1000 });
    expect(view.entitlements.chat).toBeUndefined();
    expect(view.rateLimit).toEqual({ limit: 100, windowMs: 60_000, burst: undefined });
    expect(view.quotas.api_requests).toMatchObject({
      meterSlug: 'requests',
      counterKey: `q:${sub.id}:api_requests:${Date.parse('2026-03-10T12:00:00Z')}`,
      limit: 1000,
      soft: false,
      resetAt: new Date('2026-04-10T12:00:00Z'),
    });
    expect(view.upgradeUrl).toBe('https://console.example.com/portal/subscription');
    // Cached: the second resolve answers synchronously.
    expect(access.resolve(customer.id, sub.id)).toBe(view);
  });

  it('an upgrade changes the cached view at once; the quota counter carries over within the period', async () => {
    const { customer, sub } = await setup('free');
    const before = await access.resolve(customer.id, sub.id);
    clock.advance(3_600_000);
    await subscriptions.upgrade(sub.id, 'pro');
    const after = access.resolve(customer.id, sub.id);
    expect(after).toBeInstanceOf(Promise);
    const view = await after;
    expect(view.entitlements.api_requests?.limit).toBe(50_000);
    expect(view.entitlements.chat).toMatchObject({ type: 'boolean', hasAccess: true });
    expect(view.rateLimit?.limit).toBe(1000);
    expect(view.quotas.api_requests?.counterKey).toBe(before.quotas.api_requests?.counterKey);
    clock.set('2026-03-10T12:00:00Z');
  });

  it('canceled → 403 subscription-canceled; suspended → 402 payment-required; both at once', async () => {
    const { customer, sub } = await setup('pro');
    await access.resolve(customer.id, sub.id);
    await subscriptions.suspend(sub.id);
    const suspended = await access.resolve(customer.id, sub.id);
    expect(suspended.blocked).toBeInstanceOf(ProblemError);
    expect(suspended.blocked?.status).toBe(402);
    expect(suspended.blocked?.type).toBe('payment-required');
    expect(suspended.blocked?.extensions.payUrl).toBe('https://console.example.com/portal/invoices');
    await subscriptions.reactivate(sub.id);
    expect((await access.resolve(customer.id, sub.id)).blocked).toBeNull();
    await subscriptions.cancel(sub.id, { timing: 'now' });
    const canceled = await access.resolve(customer.id, sub.id);
    expect(canceled.blocked?.status).toBe(403);
    expect(canceled.blocked?.type).toBe('subscription-canceled');
  });

  it('past_due keeps working (grace period)', async () => {
    const { customer, sub } = await setup('pro');
    await subscriptions.markPastDue(sub.id);
    const view = await access.resolve(customer.id, sub.id);
    expect(view.blocked).toBeNull();
    expect(view.subscription?.status).toBe('past_due');
  });

  it("a key without a subscription uses the customer's live one; none → empty view, not blocked", async () => {
    const { customer, sub } = await setup('pro');
    expect((await access.resolve(customer.id, null)).subscription?.id).toBe(sub.id);
    const lonely = await customers.create({ name: 'No plan yet' });
    const view = await access.resolve(lonely.id, null);
    expect(view).toMatchObject({ subscription: null, entitlements: {}, quotas: {}, blocked: null });
    // Subscribing later shows up at once.
    await subscriptions.subscribe({ customerId: lonely.id, planKey: 'free' });
    expect((await access.resolve(lonely.id, null)).subscription?.plan.key).toBe('free');
  });

  it("unknown customers and another customer's subscription are blocked", async () => {
    expect((await access.resolve('cus_missing', null)).blocked?.status).toBe(403);
    const { sub } = await setup('free');
    const other = await customers.create({ name: 'Other' });
    const view = await access.resolve(other.id, sub.id);
    expect(view.blocked?.type).toBe('subscription-not-found');
  });

  it('soft limits and trials', async () => {
    const growth = await setup('growth');
    const view = await access.resolve(growth.customer.id, growth.sub.id);
    expect(view.quotas.api_requests).toMatchObject({ limit: 10_000, soft: true });
    const ai = await setup('ai');
    const trial = await access.resolve(ai.customer.id, ai.sub.id);
    expect(trial.subscription).toMatchObject({ status: 'trialing', phase: 'trial' });
    expect(trial.entitlements.chat?.hasAccess).toBe(true);
    expect(trial.entitlements.small_input_tokens).toMatchObject({ type: 'metered', hasAccess: true });
  });

  it('when the usage period ends, the next resolve rolls the subscription and starts a new counter', async () => {
    const { customer, sub } = await setup('free');
    const first = await access.resolve(customer.id, sub.id);
    clock.set('2026-04-11T00:00:00Z');
    const next = await access.resolve(customer.id, sub.id);
    expect(next.quotas.api_requests?.periodStart).toEqual(new Date('2026-04-10T12:00:00Z'));
    expect(next.quotas.api_requests?.counterKey).not.toBe(first.quotas.api_requests?.counterKey);
    expect((await subscriptions.get(sub.id))?.currentPeriod.from).toEqual(new Date('2026-04-10T12:00:00Z'));
    clock.set('2026-03-10T12:00:00Z');
  });

  it('contract overrides reach the view (Enterprise custom limits)', async () => {
    const { customer, sub } = await setup('enterprise');
    await access.resolve(customer.id, sub.id);
    await subscriptions.setOverrides(sub.id, {
      rateLimit: { limit: 42, window: '1s' },
      rateCards: { requests: { limit: 2_000_000, softLimit: false } },
    });
    const view = await access.resolve(customer.id, sub.id);
    expect(view.rateLimit).toEqual({ limit: 42, windowMs: 1000, burst: undefined });
    expect(view.quotas.api_requests).toMatchObject({ limit: 2_000_000, soft: false });
  });

  it('checks added by other modules block (e.g. credits at zero → 402)', async () => {
    const { customer, sub } = await setup('pro');
    const problem = new ProblemError({ status: 402, type: 'credits-exhausted', title: 'No credits left' });
    const remove = access.addCheck((id) => (id === customer.id ? problem : null));
    expect((await access.resolve(customer.id, sub.id)).blocked).toBe(problem);
    remove();
    expect((await access.resolve(customer.id, sub.id)).blocked).toBeNull();
  });

  it('quota seed reads usage so far from the meter: subject, period and the feature filters', async () => {
    access.setMeterReader(reader);
    const { customer, sub } = await setup('free');
    const view = await access.resolve(customer.id, sub.id);
    expect(await view.quotas.api_requests?.seed?.()).toBe(40);
    expect(queries.at(-1)).toMatchObject({
      meterSlug: 'requests',
      customer: customer.id,
      from: new Date('2026-03-10T12:00:00Z'),
      to: new Date('2026-04-10T12:00:00Z'),
    });
    access.setMeterReader(null);
  });
});
