import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BillingModule, SandboxRail } from '../../src/billing/index.ts';
import type { CatalogService } from '../../src/catalog/index.ts';
import { ConfigError, resolveConfig } from '../../src/config/index.ts';
import type { Store } from '../../src/store/index.ts';
import type { CustomerService, SubscriptionService } from '../../src/subscriptions/index.ts';
import type { ManualClock } from '../../src/util/clock.ts';
import { billingConfig, openHarness } from './harness.ts';

/**
 * Credits included in a plan: granted when the subscription starts and at every roll-over
 * (once, however often the run repeats), spent on the period's usage charges by its invoice,
 * and expired when the period is over and invoiced. Wired as `startTollgate` wires it.
 */
const builder = {
  key: 'builder',
  name: 'Builder',
  rateCards: [
    { key: 'base', name: 'Builder subscription', price: { type: 'flat' as const, amount: '20.00' } },
    { key: 'requests', feature: 'api_requests', price: { type: 'unit' as const, amount: '0.01' } },
  ],
  credits: { amount: '10.00' },
};

const saver = {
  key: 'saver',
  name: 'Saver',
  rateCards: [{ key: 'requests', feature: 'api_requests', price: { type: 'unit' as const, amount: '0.01' } }],
  credits: { amount: '10.00', expiresAfter: { days: 45 } },
};
const metered = {
  key: 'metered',
  name: 'Metered',
  rateCards: [{ key: 'requests', feature: 'api_requests', price: { type: 'unit' as const, amount: '0.01' } }],
};
const graduated = {
  key: 'graduated',
  name: 'Graduated',
  rateCards: [
    {
      key: 'requests',
      feature: 'api_requests',
      price: {
        type: 'tiered' as const,
        mode: 'graduated' as const,
        tiers: [{ upTo: 100, unitPrice: '0' }, { unitPrice: '0.01' }],
      },
    },
  ],
};

let store: Store;
let clock: ManualClock;
let customers: CustomerService;
let subscriptions: SubscriptionService;
let billing: BillingModule;
let catalog: CatalogService;
let usage: Map<string, Record<string, string>>;

beforeAll(async () => {
  const base = billingConfig();
  const config = billingConfig({ plans: [...base.plans, builder, saver, metered, graduated] });
  ({ store, clock, catalog, customers, subscriptions, billing, usage } = await openHarness({
    config,
    start: '2030-01-01T00:00:00Z',
    includedCredits: true,
  }));
});

afterAll(async () => {
  await store?.close();
});

async function run(iso: string) {
  clock.set(iso);
  await billing.service.runBilling();
  await (billing.rail as SandboxRail).drain();
  await billing.service.runDunning();
}

const ledger = async (customerId: string) =>
  (await billing.service.credits.ledger(customerId)).map((e) => [e.kind, e.amount, e.expiresAt]);

describe('configuration', () => {
  const plan = (extra: Record<string, unknown>) =>
    resolveConfig(
      { upstream: 'http://127.0.0.1:1', plans: [{ key: 'p', name: 'P', ...extra }] },
      't.ts',
      '/tmp',
    );
  const issues = (extra: Record<string, unknown>) => {
    try {
      plan(extra);
    } catch (error) {
      if (error instanceof ConfigError) return error.issues.map((i) => `${i.path}: ${i.message}`);
      throw error;
    }
    return [];
  };

  it('names the field of a bad `credits`', () => {
    expect(issues({ rateCards: [], credits: { amount: '0' } })).toEqual([
      'plans[0].credits.amount: included credits must be more than zero',
    ]);
    expect(issues({ rateCards: [], credits: { amount: 5 } })[0]).toMatch(
      /^plans\[0\]\.credits\.amount: money must be a decimal string/,
    );
    expect(issues({ rateCards: [], credits: { amount: '5.00', expiresAfter: 'week' } })).toEqual([
      'plans[0].credits.expiresAfter: use "period" or { days: n }',
    ]);
    expect(issues({ phases: [{ key: 'main', rateCards: [] }], credits: { amount: '5.00' } })).toEqual([
      'plans[0].credits: a plan with "phases" includes credits per phase: move "credits" into the phases',
    ]);
    expect(
      issues({
        phases: [{ key: 'main', rateCards: [], credits: { amount: '5.00', expiresAfter: { days: 90 } } }],
      }),
    ).toEqual([]);
  });

  it('is part of the published plan version', async () => {
    const customer = await customers.create({ name: 'Catalog', email: 'cat@example.com' });
    const sub = await subscriptions.subscribe({ customerId: customer.id, planKey: 'builder' });
    const version = await subscriptions.planVersionOf(sub);
    expect(version.definition.phases[0]?.credits).toEqual({ amount: '10.00', expiresAfter: 'period' });
    await subscriptions.cancel(sub.id, { timing: 'now' });
  });
});

describe('credits included in a plan', () => {
  it('are granted at checkout and at each roll-over once, pay usage only, and expire at period end', async () => {
    clock.set('2030-01-01T00:00:00Z');
    const customer = await customers.create({ name: 'Builder Co', email: 'b@example.com' });
    const checkout = await billing.service.startCheckout(customer.id, 'builder', {
      card: '4242424242424242',
    });
    await (billing.rail as SandboxRail).drain();
    // The checkout invoice is the flat fee; included credits do not pay the plan's own fee.
    expect(checkout.invoice).toMatchObject({ total: '20.00', creditsApplied: '0.00', amountDue: '20.00' });
    expect(await ledger(customer.id)).toEqual([['grant', '10', '2030-02-01T00:00:00.000Z']]);
    const sub = (await subscriptions.currentForCustomer(customer.id))!;

    // January: $3 of requests, paid by the included credits; the $7 left expires.
    usage.set(customer.id, { api_requests: '300' });
    await run('2030-02-01T00:00:05Z');
    await run('2030-02-01T00:00:10Z'); // a rerun changes nothing
    const invoices = await billing.service.list({ subscriptionId: sub.id });
    expect(invoices).toHaveLength(2); // checkout and January
    const jan = invoices.find((i) => i.periodFrom === '2030-01-01T00:00:00.000Z' && i.total !== '20.00');
    expect(jan).toMatchObject({ total: '3.00', creditsApplied: '3.00', amountDue: '0.00', status: 'paid' });
    expect(jan?.lines.at(-1)).toMatchObject({ description: 'Credits applied', amount: '-3.00' });
    expect(await ledger(customer.id)).toEqual([
      ['grant', '10', '2030-02-01T00:00:00.000Z'],
      ['grant', '10', '2030-03-01T00:00:00.000Z'],
      ['usage', '-3', null],
      ['expiry', '-7', null],
    ]);
    expect(await billing.service.credits.balance(customer.id, 'USD')).toBe('10.00');

    // February: $15 of requests and the $20 fee; the credits pay $10 of the usage, not the fee.
    usage.set(customer.id, { api_requests: '1500' });
    await run('2030-03-01T00:00:05Z');
    await run('2030-03-01T00:00:09Z');
    const feb = (await billing.service.list({ subscriptionId: sub.id })).find(
      (i) => i.periodFrom === '2030-02-01T00:00:00.000Z',
    );
    expect(feb).toMatchObject({
      total: '35.00',
      creditsApplied: '10.00',
      amountDue: '25.00',
      status: 'paid',
    });

    // March: no usage. The fee is charged in full and March's credits expire unused.
    usage.set(customer.id, { api_requests: '0' });
    await run('2030-04-01T00:00:05Z');
    const mar = (await billing.service.list({ subscriptionId: sub.id })).find(
      (i) => i.periodFrom === '2030-03-01T00:00:00.000Z',
    );
    expect(mar).toMatchObject({ total: '20.00', creditsApplied: '0.00', amountDue: '20.00' });
    const entries = await billing.service.credits.ledger(customer.id);
    expect(entries.filter((e) => e.kind === 'grant').map((e) => e.expiresAt)).toEqual([
      '2030-02-01T00:00:00.000Z',
      '2030-03-01T00:00:00.000Z',
      '2030-04-01T00:00:00.000Z',
      '2030-05-01T00:00:00.000Z',
    ]);
    expect(entries.filter((e) => e.kind === 'expiry').map((e) => e.amount)).toEqual(['-7', '-10']);
    expect(await billing.service.credits.balance(customer.id, 'USD')).toBe('10.00');
  });

  it('wait for their period invoice before they expire', async () => {
    clock.set('2030-06-01T00:00:00Z');
    const customer = await customers.create({ name: 'Late run', email: 'late@example.com' });
    await subscriptions.subscribe({ customerId: customer.id, planKey: 'builder' });
    usage.set(customer.id, { api_requests: '200' });
    // Dunning (expiry) runs before the billing run reached the period: nothing expires yet.
    clock.set('2030-07-01T00:00:05Z');
    await billing.service.runDunning();
    expect((await ledger(customer.id)).map((e) => e[0])).toEqual(['grant']);
    await run('2030-07-01T00:00:10Z');
    const invoices = await billing.service.list({ customerId: customer.id });
    expect(invoices[0]).toMatchObject({ total: '22.00', creditsApplied: '2.00', amountDue: '20.00' });
    expect((await ledger(customer.id)).map((e) => [e[0], e[1]])).toEqual([
      ['grant', '10'],
      ['grant', '10'],
      ['usage', '-2'],
      ['expiry', '-8'],
    ]);
  });
});

describe('a subscription canceled now', () => {
  it('loses what is left of its included credits, so subscribing again does not double them', async () => {
    clock.set('2031-06-01T00:00:00Z');
    const customer = await customers.create({ name: 'Quitter', email: 'quit@example.com' });
    const first = await subscriptions.subscribe({ customerId: customer.id, planKey: 'saver' });
    clock.set('2031-06-05T00:00:00Z');
    await subscriptions.cancel(first.id, { timing: 'now' });
    expect(await billing.service.credits.balance(customer.id, 'USD')).toBe('0.00');
    await subscriptions.subscribe({ customerId: customer.id, planKey: 'saver' });
    expect(await billing.service.credits.balance(customer.id, 'USD')).toBe('10.00');
    expect(
      (await billing.service.credits.ledger(customer.id)).map((e) => [e.kind, e.amount, e.note]),
    ).toEqual([
      ['grant', '10', 'Included in Saver (2031-06-01 to 2031-07-01)'],
      ['expiry', '-10', 'Subscription ended'],
      ['grant', '10', 'Included in Saver (2031-06-05 to 2031-07-05)'],
    ]);
  });
});

describe('credits included for longer than a period (`expiresAfter: { days }`)', () => {
  it('also pay the invoice of the next period, soonest-expiring first', async () => {
    clock.set('2031-01-01T00:00:00Z');
    const customer = await customers.create({ name: 'Saver', email: 'saver@example.com' });
    const sub = await subscriptions.subscribe({ customerId: customer.id, planKey: 'saver' });
    usage.set(customer.id, { api_requests: '300' });
    await run('2031-02-01T00:00:05Z');
    // January's remaining $7 outlives the month (expires 15 February): not expired yet.
    clock.set('2031-02-16T00:00:00Z');
    await billing.service.runDunning();
    usage.set(customer.id, { api_requests: '1200' });
    await run('2031-03-01T00:00:05Z');
    const invoices = await billing.service.list({ subscriptionId: sub.id });
    const byPeriod = Object.fromEntries(invoices.map((i) => [i.periodFrom.slice(0, 7), i]));
    expect(byPeriod['2031-01']).toMatchObject({ total: '3.00', creditsApplied: '3.00' });
    expect(byPeriod['2031-02']).toMatchObject({ total: '12.00', creditsApplied: '12.00', amountDue: '0.00' });
    expect((await ledger(customer.id)).map((e) => [e[0], e[1], e[2]])).toEqual([
      ['grant', '10', '2031-02-15T00:00:00.000Z'],
      ['grant', '10', '2031-03-18T00:00:00.000Z'], // rolled over before January was invoiced
      ['usage', '-3', null],
      ['grant', '10', '2031-04-15T00:00:00.000Z'],
      ['usage', '-7', null],
      ['usage', '-5', null],
    ]);
    expect(await billing.service.credits.balance(customer.id, 'USD')).toBe('15.00');
  });
});

describe('usage booked in real time (credits-only customers)', () => {
  async function prepaid(planKey: string, at: string) {
    clock.set(at);
    const customer = await customers.create({ name: `Prepaid ${planKey}`, email: `${planKey}@example.com` });
    const sub = await subscriptions.subscribe({ customerId: customer.id, planKey });
    const credits = billing.service.credits;
    await credits.configure({ customerId: customer.id, currency: 'USD', creditsOnly: true });
    await credits.grant({ customerId: customer.id, currency: 'USD', amount: '5.00', note: 'Top-up' });
    // Three calls of 50 requests each, settled by the gateway at 0.01 a request.
    for (let i = 0; i < 3; i++) {
      const { reservationId } = await credits.reserve({
        customerId: customer.id,
        currency: 'USD',
        amount: '0.60',
      });
      await credits.settle({ reservationId, actual: '0.50' });
    }
    expect(await credits.balance(customer.id, 'USD')).toBe('3.50');
    usage.set(customer.id, { api_requests: '150' });
    return { customer, sub };
  }

  it('is counted as the credits applied on the period invoice, not drawn again', async () => {
    const { customer, sub } = await prepaid('metered', '2030-08-01T00:00:00Z');
    await run('2030-09-01T00:00:05Z');
    await run('2030-09-01T00:00:09Z');
    const [invoice] = await billing.service.list({ subscriptionId: sub.id });
    expect(invoice).toMatchObject({
      total: '1.50',
      creditsApplied: '1.50',
      amountDue: '0.00',
      status: 'paid',
    });
    expect(await billing.service.credits.balance(customer.id, 'USD')).toBe('3.50');
    const usageRows = (await billing.service.credits.ledger(customer.id)).filter((e) => e.kind === 'usage');
    expect(usageRows.map((e) => [e.amount, e.invoiceId])).toEqual([
      ['-0.5', invoice?.id],
      ['-0.5', invoice?.id],
      ['-0.5', invoice?.id],
    ]);
  });

  it('a reservation whose call never settled is released after an hour', async () => {
    clock.set('2030-12-01T00:00:00Z');
    const customer = await customers.create({ name: 'Crashed call', email: 'crash@example.com' });
    const credits = billing.service.credits;
    await credits.configure({ customerId: customer.id, currency: 'USD', creditsOnly: true });
    await credits.grant({ customerId: customer.id, currency: 'USD', amount: '1.00' });
    const { reservationId } = await credits.reserve({
      customerId: customer.id,
      currency: 'USD',
      amount: '1.00',
    });
    expect(credits.accessCheck(customer.id)).toMatchObject({ status: 402 });
    clock.set('2030-12-01T00:30:00Z');
    await billing.service.runDunning();
    expect(await credits.balance(customer.id, 'USD')).toBe('0.00'); // still in flight, maybe
    clock.set('2030-12-01T01:00:01Z');
    await billing.service.runDunning();
    expect(await credits.balance(customer.id, 'USD')).toBe('1.00');
    expect(credits.accessCheck(customer.id)).toBeNull();
    await credits.settle({ reservationId, actual: '0.40' }); // too late: the period's invoice draws the call's usage instead
    expect(await credits.balance(customer.id, 'USD')).toBe('1.00');
    // Later runs look only at reservations that came of age since: a new abandoned one is found.
    await credits.reserve({ customerId: customer.id, currency: 'USD', amount: '0.60' });
    clock.set('2030-12-01T01:30:00Z');
    await billing.service.runDunning();
    expect(await credits.balance(customer.id, 'USD')).toBe('0.40');
    clock.set('2030-12-01T02:01:00Z');
    await billing.service.runDunning();
    expect(await credits.balance(customer.id, 'USD')).toBe('1.00');
  });

  it('above what the invoice rates (included units) goes back to the balance', async () => {
    const { customer, sub } = await prepaid('graduated', '2030-10-01T00:00:00Z');
    await run('2030-11-01T00:00:05Z');
    const [invoice] = await billing.service.list({ subscriptionId: sub.id });
    expect(invoice).toMatchObject({ total: '0.50', creditsApplied: '0.50', amountDue: '0.00' });
    expect(await billing.service.credits.balance(customer.id, 'USD')).toBe('4.50');
    const returned = (await billing.service.credits.ledger(customer.id)).filter(
      (e) => e.note === 'Real-time usage above the invoice, returned',
    );
    expect(returned.map((e) => e.amount)).toEqual(['0.5', '0.5']);
  });
});

describe('a newer version of the plan', () => {
  it('grants nothing more in the period it is adopted; its credits start with the next period', async () => {
    clock.set('2031-09-01T00:00:00Z');
    const customer = await customers.create({ name: 'Migrated', email: 'migrated@example.com' });
    const sub = await subscriptions.subscribe({ customerId: customer.id, planKey: 'saver' });
    const base = billingConfig();
    await catalog.sync(
      billingConfig({
        plans: [...base.plans, builder, { ...saver, credits: { amount: '20.00' } }, metered, graduated],
      }),
    );
    clock.set('2031-09-10T00:00:00Z');
    await subscriptions.migrate(sub.id);
    expect((await billing.service.credits.ledger(customer.id)).map((e) => e.amount)).toEqual(['10']);
    await run('2031-10-01T00:00:05Z');
    const grants = (await billing.service.credits.ledger(customer.id)).filter((e) => e.kind === 'grant');
    expect(grants.map((e) => [e.amount, e.expiresAt])).toEqual([
      ['10', '2031-10-16T00:00:00.000Z'],
      ['20', '2031-11-01T00:00:00.000Z'],
    ]);
  });
});
