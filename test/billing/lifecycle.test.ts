import { sql } from 'kysely';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { renderInvoiceHtml, type SandboxRail } from '../../src/billing/index.ts';
import { billingConfig, DAY, type Harness, isDocumentMail, openHarness } from './harness.ts';

let h: Harness;
let n = 0;

beforeAll(async () => {
  h = await openHarness();
});
afterAll(async () => {
  await h.store.close();
});

// Each test's subscriptions end with it, so later runs (years later on the clock) do not bill
// them month after month.
const live: string[] = [];
afterEach(async () => {
  for (const id of live.splice(0)) {
    const sub = await h.subscriptions.get(id);
    if (sub && sub.status !== 'canceled') await h.subscriptions.cancel(id, { timing: 'now' });
  }
});

async function customerOn(planKey: string, card?: string) {
  const customer = await h.customers.create({ name: `Org ${++n}`, email: `org${n}@example.com` });
  const sub = await h.subscriptions.subscribe({ customerId: customer.id, planKey });
  live.push(sub.id);
  if (card) await h.billing.service.attachCard(customer.id, card);
  return { customer, sub };
}

const sandbox = () => h.billing.rail as SandboxRail;

async function runAt(iso: string) {
  h.clock.set(iso);
  const summary = await h.billing.service.runBilling();
  await sandbox().drain();
  return summary;
}

describe('invoice lifecycle (sandbox rail)', () => {
  it('bills Pro at period end, numbers the invoice, charges the card and marks it paid', async () => {
    h.clock.set('2026-01-01T00:00:00Z');
    const { customer, sub } = await customerOn('pro', '4242 4242 4242 4242');
    await runAt('2026-02-01T00:00:05Z');
    const [invoice] = await h.billing.service.list({ subscriptionId: sub.id });
    expect(invoice).toMatchObject({
      status: 'paid',
      customerId: customer.id,
      currency: 'USD',
      subtotal: '49.00',
      total: '49.00',
      amountDue: '49.00',
      periodFrom: '2026-01-01T00:00:00.000Z',
      periodTo: '2026-02-01T00:00:00.000Z',
    });
    expect(invoice?.number).toMatch(/^INV-\d{6}$/);
    expect(invoice?.lines.map((l) => [l.description, l.quantity, l.unitPrice, l.amount])).toEqual([
      ['Pro subscription', '1', '49', '49.00'],
    ]);
    expect(h.events.map((e) => e.type)).toContain('invoice.paid');
    // the subscription moved on to February
    expect((await h.subscriptions.require(sub.id)).currentPeriod.from.toISOString()).toBe(
      '2026-02-01T00:00:00.000Z',
    );
  });

  it('rates Growth usage with the included 10,000 calls and a tier breakdown', async () => {
    h.clock.set('2026-03-01T00:00:00Z');
    const { customer, sub } = await customerOn('growth', '4242424242424242');
    h.usage.set(customer.id, { api_requests: '12345' });
    await runAt('2026-04-01T00:00:01Z');
    const [invoice] = await h.billing.service.list({ subscriptionId: sub.id });
    expect(invoice?.total).toBe('43.45');
    const usageLine = invoice?.lines.find((l) => l.kind === 'usage');
    expect(usageLine?.tiers?.map((t) => [t.quantity, t.unitPrice, t.amount])).toEqual([
      ['10000', '0', '0'],
      ['2345', '0.01', '23.45'],
    ]);
    const html = renderInvoiceHtml(invoice!, { sellerName: 'Acme', customerName: customer.name });
    expect(html).toContain(invoice?.number);
    expect(html).toContain('43.45 USD');
    expect(html).toContain('@media print');
  });

  it('numbers are sequential and gapless across invoices', async () => {
    const all = await h.billing.service.list({ limit: 1000 });
    const numbers = all
      .map((i) => i.number)
      .filter(Boolean)
      .map((s) => Number(s?.slice(4)))
      .sort((a, b) => a - b);
    expect(numbers).toEqual(numbers.map((_, i) => i + 1));
  });

  it('free plan gets a zero invoice, paid at once, with nothing charged', async () => {
    h.clock.set('2026-05-01T00:00:00Z');
    const { sub } = await customerOn('free');
    await runAt('2026-06-01T00:00:00Z');
    const [invoice] = await h.billing.service.list({ subscriptionId: sub.id });
    expect(invoice).toMatchObject({ status: 'paid', total: '0.00' });
    expect(await h.billing.service.payments(invoice!.id)).toEqual([]);
  });

  it('void and mark-paid follow the lifecycle and refuse illegal moves with 409', async () => {
    h.clock.set('2026-07-01T00:00:00Z');
    const { customer } = await customerOn('pro');
    const draft = await h.billing.service.createManualInvoice({
      customerId: customer.id,
      currency: 'USD',
      lines: [{ description: 'Setup', unitPrice: '100.00' }],
    });
    expect(draft.status).toBe('draft');
    expect(draft.number).toBeNull();
    const voided = await h.billing.service.void(draft.id);
    expect(voided.status).toBe('void');
    await expect(h.billing.service.markPaid(draft.id)).rejects.toMatchObject({ status: 409 });
    await expect(h.billing.service.issue(draft.id)).rejects.toMatchObject({ status: 409 });
  });

  it('upcoming invoice: cost to date and a linear forecast to the period end', async () => {
    h.clock.set('2026-08-01T00:00:00Z');
    const { customer, sub } = await customerOn('growth', '4242424242424242');
    h.usage.set(customer.id, { api_requests: '11000' });
    const preview = await h.billing.service.upcoming(sub.id, new Date('2026-08-16T12:00:00Z')); // half of August
    expect(preview.costToDate.total).toBe('30.00'); // 20 + 1,000 × 0.01
    expect(preview.forecast.total).toBe('140.00'); // 22,000 calls → 20 + 12,000 × 0.01
  });
});

describe('billing run idempotency', () => {
  it('running twice creates no second invoice or charge', async () => {
    h.clock.set('2026-09-01T00:00:00Z');
    const { sub } = await customerOn('pro', '4242424242424242');
    await runAt('2026-10-01T00:00:00Z');
    const again = await runAt('2026-10-01T00:00:10Z');
    expect(again.invoicesCreated).toBe(0);
    const invoices = await h.billing.service.list({ subscriptionId: sub.id });
    expect(invoices.filter((i) => i.periodFrom.startsWith('2026-09'))).toHaveLength(1);
    expect(await h.billing.service.payments(invoices[0]!.id)).toHaveLength(1);
  });

  it('a crash half-way, then a rerun: every subscription billed and charged exactly once', async () => {
    h.clock.set('2026-11-01T00:00:00Z');
    const subs = [];
    for (let i = 0; i < 6; i++) subs.push((await customerOn('pro', '4242424242424242')).sub);
    h.clock.set('2026-12-01T00:00:00Z');
    let seen = 0;
    await expect(
      h.billing.service.runBilling({
        onProgress: () => {
          if (++seen === 3) throw new Error('crash');
        },
      }),
    ).rejects.toThrow('crash');
    await sandbox().drain();
    await runAt('2026-12-01T00:01:00Z');
    for (const sub of subs) {
      const invoices = (await h.billing.service.list({ subscriptionId: sub.id })).filter((i) =>
        i.periodFrom.startsWith('2026-11'),
      );
      expect(invoices).toHaveLength(1);
      expect(invoices[0]?.status).toBe('paid');
      expect(await h.billing.service.payments(invoices[0]!.id)).toHaveLength(1);
    }
    const ids = subs.map((s) => s.id);
    const { rows: charges } = await sql<{
      n: number;
    }>`select count(*)::int as n from billing_sandbox_charges c
       join billing_payments p on p.idempotency_key = c.idempotency_key
       join billing_invoices i on i.id = p.invoice_id
       where i.period_from = '2026-11-01T00:00:00Z' and i.subscription_id = any(${ids}::text[])`.execute(
      h.store.db,
    );
    expect(charges[0]?.n).toBe(6);
  });
});

describe('dunning: decline → retries → past_due → suspended → pay → active', () => {
  it('walks the whole path on the clock', async () => {
    h.clock.set('2027-01-01T00:00:00Z');
    const { customer, sub } = await customerOn('pro', '4000 0000 0000 0002');
    await runAt('2027-02-01T00:00:00Z');
    const [invoice] = await h.billing.service.list({ subscriptionId: sub.id });
    expect(invoice?.status).toBe('issued');
    expect(invoice?.lastPaymentError).toContain('card_declined');
    expect((await h.subscriptions.require(sub.id)).status).toBe('past_due');
    expect(invoice?.nextPaymentAttemptAt).toBe('2027-02-02T00:00:00.000Z'); // +1 day

    h.clock.set('2027-02-02T00:00:00Z');
    await h.billing.service.runDunning();
    await sandbox().drain();
    let current = await h.billing.service.mustGet(invoice!.id);
    expect(current.paymentAttempts).toBe(2);
    expect(current.nextPaymentAttemptAt).toBe('2027-02-04T00:00:00.000Z'); // +3 days after the first failure

    h.clock.set('2027-02-08T00:00:00Z'); // grace (7 days) over
    await h.billing.service.runDunning();
    await sandbox().drain();
    expect((await h.subscriptions.require(sub.id)).status).toBe('suspended');
    expect(h.events.map((e) => e.type)).toEqual(
      expect.arrayContaining(['invoice.payment_failed', 'subscription.past_due', 'subscription.suspended']),
    );
    const mails = h.mails.filter((m) => m.to === customer.email && !isDocumentMail(m));
    // first attempt, the +1 day retry, the +3 days retry (run on day 7), then the suspension
    expect(mails.map((m) => m.subject).sort()).toEqual([
      `Payment failed for invoice ${invoice?.number}`,
      `Payment failed for invoice ${invoice?.number}`,
      `Payment failed for invoice ${invoice?.number}`,
      'Your API access is suspended',
    ]);
    expect(mails[0]?.text).toContain('http://portal.test/portal/invoices');

    // The customer enters a working card: the open invoice is charged at once and the subscription is back.
    await h.billing.service.attachCard(customer.id, '4242424242424242');
    await sandbox().drain();
    current = await h.billing.service.mustGet(invoice!.id);
    expect(current.status).toBe('paid');
    expect((await h.subscriptions.require(sub.id)).status).toBe('active');
  });

  it('insufficient funds card is refused the same way, with its own code', async () => {
    h.clock.set('2027-03-01T00:00:00Z');
    const { sub } = await customerOn('pro', '4000000000009995');
    await runAt('2027-04-01T00:00:00Z');
    const [invoice] = await h.billing.service.list({ subscriptionId: sub.id });
    expect(invoice?.lastPaymentError).toContain('insufficient_funds');
  });

  it('an unknown card number is a clear 400, nothing saved', async () => {
    const customer = await h.customers.create({ name: 'Bad card', email: 'bad@example.com' });
    await expect(h.billing.service.attachCard(customer.id, '1234 5678 9012 3456')).rejects.toMatchObject({
      status: 400,
    });
    expect((await h.billing.service.paymentMethod(customer.id))?.payment_method_id ?? null).toBeNull();
  });
});

describe('checkout (portal)', () => {
  it('sandbox: subscribes, charges the first in-advance fee now, and does not bill it again at period end', async () => {
    h.clock.set('2027-05-01T00:00:00Z');
    const customer = await h.customers.create({ name: 'Checkout', email: 'co@example.com' });
    const result = await h.billing.service.startCheckout(customer.id, 'pro', { card: '4242424242424242' });
    await sandbox().drain();
    expect(result.url).toBeNull();
    expect((await h.billing.service.mustGet(result.invoice!.id)).status).toBe('paid');
    const sub = await h.subscriptions.currentForCustomer(customer.id);
    live.push(sub!.id);
    expect(sub?.status).toBe('active');
    await runAt('2027-06-01T00:00:00Z');
    const invoices = await h.billing.service.list({ subscriptionId: sub!.id });
    expect(invoices.map((i) => i.total).sort()).toEqual(['0.00', '49.00']);
  });
});

describe('prepaid credits', () => {
  it('are drawn before invoicing as a "Credits applied" line', async () => {
    h.clock.set('2027-07-01T00:00:00Z');
    const { customer, sub } = await customerOn('pro', '4242424242424242');
    await h.billing.service.credits.grant({
      customerId: customer.id,
      currency: 'USD',
      amount: '10.00',
      note: 'Welcome',
    });
    await runAt('2027-08-01T00:00:00Z');
    const [invoice] = await h.billing.service.list({ subscriptionId: sub.id });
    expect(invoice).toMatchObject({
      total: '49.00',
      creditsApplied: '10.00',
      amountDue: '39.00',
      status: 'paid',
    });
    expect(invoice?.lines.at(-1)).toMatchObject({ description: 'Credits applied', amount: '-10.00' });
    expect(await h.billing.service.credits.balance(customer.id, 'USD')).toBe('0.00');
    expect((await h.billing.service.credits.ledger(customer.id)).map((e) => [e.kind, e.amount])).toEqual([
      ['grant', '10'],
      ['usage', '-10'],
    ]);
  });

  it('expire as a ledger entry, soonest-expiring grant used first', async () => {
    h.clock.set('2027-09-01T00:00:00Z');
    const customer = await h.customers.create({ name: 'Expiring', email: 'exp@example.com' });
    const credits = h.billing.service.credits;
    await credits.grant({
      customerId: customer.id,
      currency: 'USD',
      amount: '5',
      expiresAt: new Date('2027-09-10T00:00:00Z'),
    });
    await credits.grant({ customerId: customer.id, currency: 'USD', amount: '5' });
    const reservation = await credits.reserve({ customerId: customer.id, currency: 'USD', amount: '2' });
    await credits.settle({ reservationId: reservation.reservationId, actual: '1.5' });
    expect(await credits.balance(customer.id, 'USD')).toBe('8.50');
    h.clock.set('2027-09-11T00:00:00Z');
    expect(await credits.expireDue()).toBe(1);
    expect(await credits.balance(customer.id, 'USD')).toBe('5.00');
    expect((await credits.ledger(customer.id)).map((e) => e.kind)).toEqual([
      'grant',
      'grant',
      'reservation',
      'release',
      'usage',
      'expiry',
    ]);
  });

  it('a credits-only customer at zero is refused with 402 credits-exhausted', async () => {
    const customer = await h.customers.create({ name: 'Prepaid', email: 'pp@example.com' });
    const credits = h.billing.service.credits;
    await credits.configure({ customerId: customer.id, currency: 'USD', creditsOnly: true });
    expect(credits.accessCheck(customer.id)).toMatchObject({ status: 402, type: 'credits-exhausted' });
    await credits.grant({ customerId: customer.id, currency: 'USD', amount: '1.00' });
    expect(credits.accessCheck(customer.id)).toBeNull();
    await expect(
      credits.reserve({ customerId: customer.id, currency: 'USD', amount: '5' }),
    ).rejects.toMatchObject({
      status: 402,
    });
  });

  it('top-up through the rail lands in the ledger when the payment succeeds', async () => {
    const customer = await h.customers.create({ name: 'Topup', email: 'tu@example.com' });
    await h.billing.service.attachCard(customer.id, '4242424242424242');
    await h.billing.service.topUp(customer.id, '25', 'USD');
    await sandbox().drain();
    expect(await h.billing.service.credits.balance(customer.id, 'USD')).toBe('25.00');
  });
});

describe('trial and upgrade', () => {
  it('AI plan: the trial is free; tokens after it are billed', async () => {
    h.clock.set('2028-01-01T00:00:00Z');
    const { customer, sub } = await customerOn('ai', '4242424242424242');
    h.usage.set(customer.id, { small_input_tokens: '2000000' });
    // the first period is the trial (14 days); bill it and the next one
    const first = await h.subscriptions.require(sub.id);
    await runAt(new Date(first.currentPeriod.to.getTime() + 1000).toISOString());
    const invoices = await h.billing.service.list({ subscriptionId: sub.id });
    expect(invoices[0]?.lines.map((l) => l.kind)).toContain('trial');
    expect(invoices[0]?.total).toBe('0.00');
  });

  it('mid-period upgrade Pro → Enterprise is prorated by second', async () => {
    h.clock.set('2028-03-01T00:00:00Z');
    const { sub } = await customerOn('pro', '4242424242424242');
    h.clock.set(new Date(Date.parse('2028-03-01T00:00:00Z') + 10 * DAY).toISOString()); // 21 of 31 days remain
    await h.subscriptions.changePlan(sub.id, { planKey: 'enterprise', timing: 'now' });
    await runAt('2028-04-01T00:00:00Z');
    const invoice = (await h.billing.service.list({ subscriptionId: sub.id })).find((i) =>
      i.periodFrom.startsWith('2028-03'),
    );
    expect(invoice?.lines.map((l) => [l.kind, l.amount])).toEqual([
      ['flat', '49.00'],
      ['proration_credit', '-33.19'],
      ['proration_charge', '338.03'],
    ]);
    expect(invoice?.total).toBe('353.84');
  });
});

describe('crash between recording a charge and the rail answering', () => {
  it('the rerun sends the same charge again (same idempotency key): one charge at the rail', async () => {
    h.clock.set('2029-01-01T00:00:00Z');
    const { sub } = await customerOn('pro', '4242424242424242');
    const rail = sandbox();
    const original = rail.chargeInvoice.bind(rail);
    let failed = 0;
    rail.chargeInvoice = async (input) => {
      const invoice = await h.billing.service.get(input.reference);
      if (invoice?.subscriptionId === sub.id && failed === 0) {
        failed++;
        throw new Error('connection reset'); // the process "dies" before the rail answers
      }
      return original(input);
    };
    try {
      h.clock.set('2029-02-01T00:00:00Z');
      await expect(h.billing.service.runBilling()).rejects.toThrow('connection reset');
      const [pending] = await h.billing.service.list({ subscriptionId: sub.id });
      expect(pending?.status).toBe('issued');
      await runAt('2029-02-01T00:05:00Z');
    } finally {
      rail.chargeInvoice = original;
    }
    const invoices = (await h.billing.service.list({ subscriptionId: sub.id })).filter((i) =>
      i.periodFrom.startsWith('2029-01'),
    );
    expect(invoices).toHaveLength(1);
    expect(invoices[0]?.status).toBe('paid');
    const payments = await h.billing.service.payments(invoices[0]!.id);
    expect(payments.map((p) => [p.idempotency_key, p.status])).toEqual([
      [`inv:${invoices[0]!.id}:attempt:1`, 'succeeded'],
    ]);
  });
});

describe('refunds', () => {
  it('refunds part of a paid invoice through the rail, never more than was paid', async () => {
    h.clock.set('2029-05-01T00:00:00Z');
    const { sub } = await customerOn('pro', '4242424242424242');
    await runAt('2029-06-01T00:00:00Z');
    const invoice = (await h.billing.service.list({ subscriptionId: sub.id })).find((i) =>
      i.periodFrom.startsWith('2029-05'),
    );
    expect(invoice?.status).toBe('paid');
    const refund = await h.billing.service.refundInvoice(invoice!.id, '9.00');
    expect(refund).toMatchObject({ purpose: 'refund', status: 'succeeded' });
    await expect(h.billing.service.refundInvoice(invoice!.id, '41.00')).rejects.toMatchObject({
      status: 400,
    });
    expect((await h.billing.service.refundInvoice(invoice!.id)).amount).toBe('40.00000000');
    expect(h.events.map((e) => e.type)).toContain('invoice.refunded');
  });
});

describe('dunning schedule from the config (billing.retryDays, billing.gracePeriodDays)', () => {
  it('retries on the configured days only, then suspends after the configured grace period', async () => {
    const own = await openHarness({
      start: '2030-01-01T00:00:00Z',
      config: billingConfig({ billing: { retryDays: [2, 4], gracePeriodDays: 6 } }),
    });
    try {
      const rail = own.billing.rail as SandboxRail;
      const customer = await own.customers.create({ name: 'Scheduled', email: 'scheduled@example.com' });
      const sub = await own.subscriptions.subscribe({ customerId: customer.id, planKey: 'pro' });
      await own.billing.service.attachCard(customer.id, '4000 0000 0000 0002');
      own.clock.set('2030-02-01T00:00:00Z');
      await own.billing.service.runBilling();
      await rail.drain();
      const [invoice] = await own.billing.service.list({ subscriptionId: sub.id });
      expect(invoice?.nextPaymentAttemptAt).toBe('2030-02-03T00:00:00.000Z'); // +2 days, not the default +1

      const dunningAt = async (iso: string) => {
        own.clock.set(iso);
        const result = await own.billing.service.runDunning();
        await rail.drain();
        return { result, invoice: await own.billing.service.mustGet(invoice!.id) };
      };
      let step = await dunningAt('2030-02-02T00:00:00Z'); // the default schedule would retry today
      expect(step.result.retried).toBe(0);
      expect(step.invoice.paymentAttempts).toBe(1);

      step = await dunningAt('2030-02-03T00:00:00Z');
      expect(step.result.retried).toBe(1);
      expect(step.invoice.nextPaymentAttemptAt).toBe('2030-02-05T00:00:00.000Z'); // +4 days after the first failure

      step = await dunningAt('2030-02-05T00:00:00Z');
      expect(step.invoice.paymentAttempts).toBe(3);
      expect(step.invoice.nextPaymentAttemptAt).toBeNull(); // the schedule has two retries
      expect((await own.subscriptions.require(sub.id)).status).toBe('past_due');

      step = await dunningAt('2030-02-06T23:59:59Z');
      expect(step.result).toMatchObject({ retried: 0, suspended: 0 });
      step = await dunningAt('2030-02-07T00:00:00Z'); // six days of grace
      expect(step.result.suspended).toBe(1);
      expect((await own.subscriptions.require(sub.id)).status).toBe('suspended');
    } finally {
      await own.store.close();
    }
  });

  it('refuses a schedule that is not strictly increasing whole days, naming the field', () => {
    expect(() => billingConfig({ billing: { retryDays: [1, 3, 3] } })).toThrow(
      /billing\.retryDays\[2\]: retry days must be strictly increasing/,
    );
    expect(() => billingConfig({ billing: { retryDays: [0, 2] } })).toThrow(
      /billing\.retryDays\[0\]: must be at least 1 day/,
    );
    expect(() => billingConfig({ billing: { retryDays: [1.5] } })).toThrow(
      /billing\.retryDays\[0\]: must be a whole number/,
    );
  });
});
