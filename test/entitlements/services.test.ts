import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CatalogService, createCatalogService } from '../../src/catalog/index.ts';
import { memoryChangeFeed, migrate, openPGliteStore, type Store } from '../../src/store/index.ts';
import {
  type CustomerService,
  createCustomerService,
  createSubscriptionService,
  type SubscriptionService,
} from '../../src/subscriptions/index.ts';
import { ManualClock } from '../../src/util/clock.ts';
import { openTestPostgres } from '../support/postgres.ts';
import { catalogConfig } from './fixtures.ts';

/** The same service rules on the embedded store and on PostgreSQL. */
describe.each([
  ['pglite', async () => ({ store: await openPGliteStore(), drop: async () => {} })],
  ['postgres', openTestPostgres],
] as const)('on %s', (_kind, open) => {
  let store: Store;
  let catalog: CatalogService;
  let customers: CustomerService;
  let subscriptions: SubscriptionService;
  const clock = new ManualClock('2026-01-15T10:00:00Z');
  const changes = memoryChangeFeed();
  const seen: string[] = [];

  let drop: () => Promise<void> = async () => {};
  afterAll(async () => drop());

  beforeAll(async () => {
    const opened = await open();
    store = opened.store;
    drop = opened.drop;
    await migrate(store);
    catalog = createCatalogService({ store, changes, clock });
    customers = createCustomerService({ store, changes, clock });
    subscriptions = createSubscriptionService({ store, changes, clock, catalog, customers });
    changes.subscribe((c) => seen.push(`${c.topic}:${c.id}`));
    await catalog.sync(catalogConfig());
  });

  let n = 0;
  const newCustomer = () => customers.create({ name: `Org ${++n}`, email: `org${n}@example.com` });

  describe('catalog', () => {
    it('publishes version 1 of every plan, normalizing trialDays into a trial phase', async () => {
      const plans = await catalog.listPlans();
      expect(plans.map((p) => [p.key, p.latestVersion, p.status])).toEqual([
        ['free', 1, 'active'],
        ['pro', 1, 'active'],
        ['growth', 1, 'active'],
        ['ai', 1, 'active'],
        ['enterprise', 1, 'active'],
      ]);
      const ai = await catalog.getLatestPlanVersion('ai');
      expect(ai?.definition.phases.map((p) => [p.key, p.duration, p.trial])).toEqual([
        ['trial', 'P14D', true],
        ['default', undefined, false],
      ]);
      expect(ai?.definition.phases[0]?.rateCards.every((rc) => rc.price === null)).toBe(true);
      expect((await catalog.listPublicPlans()).map((v) => v.planKey)).toEqual([
        'free',
        'pro',
        'growth',
        'ai',
      ]);
    });

    it('pushing the same config again changes nothing', async () => {
      const result = await catalog.sync(catalogConfig());
      expect(result.changed).toBe(false);
      expect(result.plans.every((p) => p.action === 'unchanged')).toBe(true);
    });
  });

  describe('subscriptions', () => {
    it('subscribes with a trial when the plan has one, and rolls into the paid phase', async () => {
      const customer = await newCustomer();
      const sub = await subscriptions.subscribe({ customerId: customer.id, planKey: 'ai' });
      expect(sub.status).toBe('trialing');
      expect(sub.currentPeriod.to.toISOString()).toBe('2026-01-29T10:00:00.000Z');
      clock.advance(15 * 86_400_000);
      const rolled = await subscriptions.rollover(sub.id);
      expect(rolled.status).toBe('active');
      expect(rolled.currentPeriod.from.toISOString()).toBe('2026-01-29T10:00:00.000Z');
      expect(rolled.currentPeriod.to.toISOString()).toBe('2026-02-28T10:00:00.000Z');
      const periods = await subscriptions.periods(sub.id);
      expect(periods.map((p) => [p.from.toISOString(), p.closedAt !== null])).toEqual([
        ['2026-01-15T10:00:00.000Z', true],
        ['2026-01-29T10:00:00.000Z', false],
      ]);
      clock.set('2026-01-15T10:00:00Z');
    });

    it('refuses a second live subscription and unknown plans with clear problems', async () => {
      const customer = await newCustomer();
      await subscriptions.subscribe({ customerId: customer.id, planKey: 'free' });
      await expect(
        subscriptions.subscribe({ customerId: customer.id, planKey: 'pro' }),
      ).rejects.toMatchObject({
        status: 409,
      });
      await expect(
        subscriptions.subscribe({ customerId: customer.id, planKey: 'nope' }),
      ).rejects.toMatchObject({
        status: 400,
      });
    });

    it('concurrent subscribes for one customer: exactly one wins, the others get 409', async () => {
      const customer = await newCustomer();
      const results = await Promise.allSettled(
        Array.from({ length: 5 }, () =>
          subscriptions.subscribe({ customerId: customer.id, planKey: 'free' }),
        ),
      );
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      for (const r of results) if (r.status === 'rejected') expect(r.reason).toMatchObject({ status: 409 });
    });

    it('concurrent plan changes and a cancel leave one consistent history', async () => {
      const customer = await newCustomer();
      const sub = await subscriptions.subscribe({ customerId: customer.id, planKey: 'free' });
      await Promise.allSettled([
        subscriptions.upgrade(sub.id, 'pro'),
        subscriptions.upgrade(sub.id, 'growth'),
        subscriptions.cancel(sub.id, { timing: 'now' }),
      ]);
      const segments = await subscriptions.segments(sub.id);
      // Contiguous: each segment starts where the previous one ended; at most one is open.
      for (let i = 1; i < segments.length; i++) expect(segments[i]!.from).toEqual(segments[i - 1]!.to);
      expect(segments.filter((s) => s.to === null).length).toBeLessThanOrEqual(1);
      const final = await subscriptions.require(sub.id);
      if (final.status === 'canceled') expect(segments.at(-1)?.to).not.toBeNull();
      else expect(segments.at(-1)?.planKey).toBe(final.planKey);
    });

    it('upgrades now, keeping a segment history for proration', async () => {
      const customer = await newCustomer();
      const sub = await subscriptions.subscribe({ customerId: customer.id, planKey: 'free' });
      clock.advance(10 * 86_400_000);
      const upgraded = await subscriptions.upgrade(sub.id, 'pro');
      expect(upgraded.planKey).toBe('pro');
      expect(upgraded.status).toBe('active');
      // The billing period in progress keeps its start.
      expect(upgraded.currentPeriod).toEqual(sub.currentPeriod);
      const segments = await subscriptions.segments(sub.id);
      expect(segments.map((s) => [s.planKey, s.from.toISOString(), s.to?.toISOString() ?? null])).toEqual([
        ['free', '2026-01-15T10:00:00.000Z', '2026-01-25T10:00:00.000Z'],
        ['pro', '2026-01-25T10:00:00.000Z', null],
      ]);
      expect(seen).toContain(`subscriptions:${sub.id}`);
      clock.set('2026-01-15T10:00:00Z');
    });

    it('an upgrade during a trial ends the trial there: history keeps it, the period keeps its start', async () => {
      const customer = await newCustomer();
      const sub = await subscriptions.subscribe({ customerId: customer.id, planKey: 'ai' });
      clock.advance(3 * 86_400_000);
      const upgraded = await subscriptions.upgrade(sub.id, 'pro');
      expect(upgraded.status).toBe('active');
      expect(
        upgraded.phases.map((p) => [p.key, p.trial, p.from.toISOString(), p.to?.toISOString() ?? null]),
      ).toEqual([
        ['trial', true, '2026-01-15T10:00:00.000Z', '2026-01-18T10:00:00.000Z'],
        ['default', false, '2026-01-18T10:00:00.000Z', null],
      ]);
      expect(upgraded.currentPeriod.from.toISOString()).toBe('2026-01-15T10:00:00.000Z');
      expect(upgraded.currentPeriod.to.toISOString()).toBe('2026-02-15T10:00:00.000Z');
      // Billing sees the trial's free terms before the change (AI v1, phase trial) and Pro's after it.
      const segments = await subscriptions.segments(sub.id);
      expect(segments.map((s) => [s.planKey, s.to?.toISOString() ?? null])).toEqual([
        ['ai', '2026-01-18T10:00:00.000Z'],
        ['pro', null],
      ]);
      clock.set('2026-01-15T10:00:00Z');
    });

    it('downgrades at the period end', async () => {
      const customer = await newCustomer();
      const sub = await subscriptions.subscribe({ customerId: customer.id, planKey: 'pro' });
      const scheduled = await subscriptions.downgrade(sub.id, 'free');
      expect(scheduled.planKey).toBe('pro');
      expect(scheduled.pendingChange?.planKey).toBe('free');
      expect(scheduled.pendingChange?.effectiveAt).toEqual(sub.currentPeriod.to);
      clock.set('2026-02-16T00:00:00Z');
      const rolled = await subscriptions.rollover(sub.id);
      expect(rolled.planKey).toBe('free');
      expect(rolled.pendingChange).toBeNull();
      expect(rolled.currentPeriod.from.toISOString()).toBe('2026-02-15T10:00:00.000Z');
      const segments = await subscriptions.segments(sub.id);
      expect(segments.map((s) => [s.planKey, s.to?.toISOString() ?? null])).toEqual([
        ['pro', '2026-02-15T10:00:00.000Z'],
        ['free', null],
      ]);
      clock.set('2026-01-15T10:00:00Z');
    });

    it('cancels at period end, resumes, and cancels now', async () => {
      const customer = await newCustomer();
      const sub = await subscriptions.subscribe({ customerId: customer.id, planKey: 'pro' });
      const scheduled = await subscriptions.cancel(sub.id, { timing: 'period_end' });
      expect(scheduled.cancelAtPeriodEnd).toBe(true);
      expect(scheduled.status).toBe('active');
      const resumed = await subscriptions.resume(sub.id);
      expect(resumed.cancelAtPeriodEnd).toBe(false);
      const canceled = await subscriptions.cancel(sub.id, { timing: 'now' });
      expect(canceled.status).toBe('canceled');
      expect(canceled.endedAt).toEqual(clock.now());
      await expect(subscriptions.resume(sub.id)).rejects.toMatchObject({ status: 409 });
      // A canceled customer can subscribe again.
      const again = await subscriptions.subscribe({ customerId: customer.id, planKey: 'free' });
      expect(again.status).toBe('active');
    });

    it('a cancel at period end takes effect at rollover', async () => {
      const customer = await newCustomer();
      const sub = await subscriptions.subscribe({ customerId: customer.id, planKey: 'pro' });
      await subscriptions.cancel(sub.id);
      clock.set('2026-03-01T00:00:00Z');
      const rolled = await subscriptions.rollover(sub.id);
      expect(rolled.status).toBe('canceled');
      expect(rolled.endedAt?.toISOString()).toBe('2026-02-15T10:00:00.000Z');
      clock.set('2026-01-15T10:00:00Z');
    });

    it('dunning: past_due → suspended → reactivated', async () => {
      const customer = await newCustomer();
      const sub = await subscriptions.subscribe({ customerId: customer.id, planKey: 'pro' });
      expect((await subscriptions.markPastDue(sub.id)).status).toBe('past_due');
      expect((await subscriptions.suspend(sub.id)).status).toBe('suspended');
      expect((await subscriptions.reactivate(sub.id)).status).toBe('active');
    });

    it('versioning keeps old subscribers on their version until migrated', async () => {
      const customer = await newCustomer();
      const other = await newCustomer();
      const sub = await subscriptions.subscribe({ customerId: customer.id, planKey: 'free' });
      const otherSub = await subscriptions.subscribe({ customerId: other.id, planKey: 'free' });
      const config = catalogConfig();
      const free = config.plans.find((p) => p.key === 'free')!;
      const card = free.rateCards![0]!;
      card.entitlement = { type: 'metered', limit: 2000, softLimit: false, usagePeriod: 'P1M' };
      const preview = await catalog.preview(config);
      expect(preview.plans.find((p) => p.key === 'free')).toMatchObject({
        action: 'publish',
        fromVersion: 1,
        toVersion: 2,
        changes: [
          {
            kind: 'changed',
            path: 'phases.default.rateCards.requests.entitlement.limit',
            before: '1000',
            after: '2000',
          },
        ],
      });
      expect((await catalog.getPlan('free'))?.latestVersion).toBe(1);
      await catalog.sync(config);
      expect((await subscriptions.get(sub.id))?.planVersion).toBe(1);
      const effective = await subscriptions.effectiveRateCards(sub.id);
      expect(effective.rateCards[0]?.entitlement).toMatchObject({ limit: 1000 });

      const fresh = await subscriptions.subscribe({ customerId: (await newCustomer()).id, planKey: 'free' });
      expect(fresh.planVersion).toBe(2);

      const result = await subscriptions.migratePlan('free', { customerId: customer.id });
      expect(result.migrated.map((s) => s.id)).toEqual([sub.id]);
      expect((await subscriptions.get(sub.id))?.planVersion).toBe(2);
      expect((await subscriptions.get(otherSub.id))?.planVersion).toBe(1);
      expect((await subscriptions.effectiveRateCards(sub.id)).rateCards[0]?.entitlement).toMatchObject({
        limit: 2000,
      });
    });

    it('a removed plan with subscribers is archived, not deleted', async () => {
      const config = catalogConfig();
      const withoutGrowth = { ...config, plans: config.plans.filter((p) => p.key !== 'growth') };
      const customer = await newCustomer();
      await subscriptions.subscribe({ customerId: customer.id, planKey: 'growth' });
      const result = await catalog.sync(withoutGrowth);
      expect(result.plans.find((p) => p.key === 'growth')).toMatchObject({
        action: 'archive',
        subscribers: 1,
      });
      expect((await catalog.getPlan('growth'))?.status).toBe('archived');
      expect((await catalog.listPublicPlans()).map((v) => v.planKey)).not.toContain('growth');
      await expect(
        subscriptions.subscribe({ customerId: (await newCustomer()).id, planKey: 'growth' }),
      ).rejects.toMatchObject({ status: 409 });
      const restored = await catalog.sync(config);
      expect(restored.plans.find((p) => p.key === 'growth')?.action).toBe('restore');
    });

    it('contract overrides change limits and prices for one customer', async () => {
      const customer = await newCustomer();
      const sub = await subscriptions.subscribe({
        customerId: customer.id,
        planKey: 'enterprise',
        overrides: {
          rateLimit: { limit: 50_000, window: '1m' },
          rateCards: {
            requests: { limit: 5_000_000 },
            base: { price: { type: 'flat', amount: '999.00', paymentTerm: 'in_advance' } },
            chat: { feature: 'chat', entitlement: { type: 'boolean' } },
          },
        },
      });
      const effective = await subscriptions.effectiveRateCards(sub);
      expect(effective.rateLimit).toEqual({ limit: 50_000, window: '1m' });
      expect(effective.rateCards.find((rc) => rc.key === 'requests')?.entitlement).toMatchObject({
        type: 'metered',
        limit: 5_000_000,
        softLimit: true,
      });
      expect(effective.rateCards.find((rc) => rc.key === 'base')?.price).toMatchObject({ amount: '999.00' });
      expect(effective.rateCards.find((rc) => rc.key === 'chat')?.feature).toBe('chat');
      await expect(
        subscriptions.setOverrides(sub.id, { rateCards: { extra: { limit: 5 } } }),
      ).rejects.toMatchObject({ status: 400 });
      await expect(
        subscriptions.setOverrides(sub.id, { rateCards: { requests: { limit: -1 } } }),
      ).rejects.toMatchObject({ status: 400 });
    });
  });

  describe('customers', () => {
    it('validates input, naming the field', async () => {
      await expect(customers.create({ name: '', email: 'nope' })).rejects.toMatchObject({
        status: 400,
        extensions: { errors: expect.arrayContaining([expect.objectContaining({ path: 'email' })]) },
      });
    });

    it('refuses to delete a customer with a live subscription', async () => {
      const customer = await newCustomer();
      const sub = await subscriptions.subscribe({ customerId: customer.id, planKey: 'free' });
      await expect(customers.delete(customer.id)).rejects.toMatchObject({ status: 409 });
      await subscriptions.cancel(sub.id, { timing: 'now' });
      await customers.delete(customer.id);
      expect(await customers.get(customer.id)).toBeNull();
    });
  });
});
