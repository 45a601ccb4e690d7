import type { ResolvedConfig } from '../config/index.ts';
import { ProblemError, problems } from '../http/problem.ts';
import { runExclusive, type Store } from '../store/index.ts';
import type { Clock } from '../util/clock.ts';
import { newId } from '../util/ids.ts';
import type { Logger } from '../util/log.ts';
import { Decimal, formatMoney, minorUnits, roundMoney } from '../util/money.ts';
import type { CreditsService } from './credits.ts';
import {
  type BillingSegment,
  type BillingSubscription,
  type Db,
  type EventSink,
  type Invoice,
  type InvoiceStatus,
  noEvents,
  type SubscriptionPort,
  sqlRows,
  type UsagePort,
} from './model.ts';
import type { PaymentRail, RailEvent } from './rails/types.ts';
import { type RatedLine, rate } from './rating.ts';
import {
  type InvoiceFilter,
  type InvoiceRow,
  invoiceLines,
  invoiceRow,
  invoiceRowByKey,
  listInvoiceRows,
  nextInvoiceNumber,
  PAYMENT_COLUMNS,
  PAYMENT_COLUMNS_P,
  type PaymentRow,
  type RailCustomerRow,
  railCustomer,
  toInvoice,
} from './repo.ts';

/**
 * Invoices, the billing run, collection through the payment rail and dunning. No SQL beyond
 * the repo helpers, no HTTP. Subscriptions and usage come in through ports.
 *
 * Idempotency: one invoice per subscription period (`sub:<id>:<periodFrom>` is a unique key);
 * every charge attempt has its own key (`inv:<id>:attempt:<n>`) passed to the rail, so a rerun
 * after a crash finds the invoice, resumes a charge that never reached the rail with the same
 * key, and never charges twice. Period roll-over happens last and is itself conditional.
 */
export const DEFAULT_RETRY_DAYS = [1, 3, 5];
const DAY = 86_400_000;
const BILLING_LOCK = 'billing-run';
/** Invoices the billing run creates per statement. */
const INVOICE_GROUP = 100;
/** Tables a billing run grows and reads back (foreign-key targets, duplicate checks, due periods). */
const ANALYZE_BILLING = 'analyze billing_invoices, billing_payments, subscription_periods';
const DUNNING_LOCK = 'billing-dunning';
/** Dunning code of an invoice whose charge waits on the customer's payment link. */
const PAYMENT_REQUIRED = 'payment_required';

export interface RunProgress {
  done: number;
  total: number;
  invoiced: number;
  skipped: number;
  subscriptionId: string;
}

export interface RunSummary {
  subscriptions: number;
  invoicesCreated: number;
  alreadyInvoiced: number;
  charged: number;
  failed: number;
  locked: boolean;
}

export interface SimulationRow {
  customerId: string;
  customerName: string;
  subscriptionId: string;
  periodFrom: string;
  periodTo: string;
  currency: string;
  /** Subtotal (before tax) under the plan versions in force at the time. */
  before: string;
  /** Subtotal under the plan as in the current config. */
  after: string;
}

export interface UpcomingInvoice {
  subscriptionId: string;
  customerId: string;
  currency: string;
  periodFrom: string;
  periodTo: string;
  asOf: string;
  costToDate: { lines: RatedLine[]; total: string };
  forecast: { lines: RatedLine[]; total: string };
}

export interface BillingServiceOptions {
  store: Store;
  clock: Clock;
  log: Logger;
  config: ResolvedConfig;
  subscriptions: SubscriptionPort;
  usage: UsagePort;
  rail: PaymentRail;
  credits: CreditsService;
  events?: EventSink;
  /** Dunning emails to the customer's billing address (payment failed, suspended). */
  mail?: { send(message: { to: string; subject: string; text: string }): Promise<void> };
  /** Where customers update their card, for dunning emails (e.g. `https://api.example.com/portal/invoices`). */
  portalInvoicesUrl?: () => string;
  /** Days after the first failure for each retry (`billing.retryDays`; default 1, 3, 5). */
  retryDays?: number[];
  /** Net payment terms for the invoice rail. */
  netDays?: number;
}

export type BillingService = ReturnType<typeof createBillingService>;

export function createBillingService(options: BillingServiceOptions) {
  const { store, clock, log, config, subscriptions, usage, rail, credits } = options;
  const db: Db = store.db;
  const events = options.events ?? noEvents;
  const retryDays = options.retryDays ?? DEFAULT_RETRY_DAYS;
  const taxRate = config.billing.taxRate ?? null;

  async function load(id: string, on: Db = db): Promise<Invoice | null> {
    const row = await invoiceRow(on, id);
    if (!row) return null;
    return toInvoice(row, await invoiceLines(on, [id]), minorUnits(row.currency));
  }

  async function mustLoad(id: string, on: Db = db): Promise<Invoice> {
    const invoice = await load(id, on);
    if (!invoice) throw problems.notFound(`No invoice ${id}.`);
    return invoice;
  }

  async function rateSubscription(
    sub: BillingSubscription,
    period: { from: Date; to: Date },
    usageTo: Date = period.to,
  ): Promise<{ segments: BillingSegment[]; lines: RatedLine[] }> {
    const segments = await subscriptions.segments(sub, period);
    const rated = [];
    for (const segment of segments) {
      const to = segment.to < usageTo ? segment.to : usageTo;
      const features = [
        ...new Set(
          segment.rateCards
            .filter((c) => c.feature && c.price && c.price.type !== 'flat')
            .map((c) => c.feature as string),
        ),
      ];
      const segmentUsage =
        features.length > 0 && to > segment.from
          ? await usage.usage(sub.customerId, sub.id, features, segment.from, to)
          : {};
      rated.push({ ...segment, usage: segmentUsage });
    }
    return { segments, lines: rate({ period, currency: sub.currency, segments: rated }) };
  }

  function totals(lines: readonly { amount: string }[], currency: string) {
    const subtotal = lines.reduce((acc, l) => acc.add(l.amount), new Decimal(0));
    const tax = taxRate ? roundMoney(subtotal.mul(taxRate), currency) : new Decimal(0);
    return { subtotal, tax, total: subtotal.add(tax) };
  }

  interface Created {
    id: string;
    number: string | null;
    status: InvoiceStatus;
    customerId: string;
    subscriptionId: string | null;
    currency: string;
    total: string;
    amountDue: string;
    periodFrom: string;
    periodTo: string;
    creditsApplied: string;
    payment: PaymentRow | null;
  }
  const DUPLICATE = Symbol('duplicate invoice');

  /**
   * Creates and (unless `issue: false`) issues an invoice in one transaction: credits drawn,
   * number assigned from the gapless counter, lines written, and on card rails the first charge
   * attempt recorded (with its idempotency key) before anything is sent to the rail. `key` makes
   * it idempotent: returns null when an invoice with that key exists (and rolls back the number).
   */
  async function createAndIssue(input: {
    key: string;
    customerId: string;
    subscriptionId: string | null;
    currency: string;
    period: { from: Date; to: Date };
    lines: RatedLine[];
    applyCredits: boolean;
    metadata?: Record<string, unknown>;
    issue?: boolean;
  }): Promise<Created | null> {
    const now = clock.now();
    const digits = minorUnits(input.currency);
    const issue = input.issue !== false;
    if (issue && !input.applyCredits) return createAndIssueInOneStatement(input, now, digits);
    try {
      return await store.transaction(async (tx) => {
        const id = newId('inv');
        const { subtotal, tax, total } = totals(input.lines, input.currency);
        let creditsApplied = new Decimal(0);
        // Also at a zero total: the period's real-time credit usage is settled against its invoice.
        if (input.applyCredits) {
          creditsApplied = new Decimal(
            await credits.drawdown(tx, {
              customerId: input.customerId,
              currency: input.currency,
              amount: total.toFixed(digits),
              invoiceId: id,
              invoiceKey: input.key,
              period: input.period,
              lines: input.lines,
            }),
          );
        }
        const amountDue = total.sub(creditsApplied);
        const zero = amountDue.lte(0);
        const number = issue ? await nextInvoiceNumber(tx) : null;
        const status: InvoiceStatus = !issue ? 'draft' : zero ? 'paid' : 'issued';
        const netDays = rail.collection === 'manual' ? (options.netDays ?? 30) : 0;
        const charge = issue && !zero && rail.collection === 'automatic';
        const inserted = await sqlRows<{ id: string }>(
          tx,
          `insert into billing_invoices (id, number, customer_id, subscription_id, idempotency_key, status, currency, period_from, period_to,
             subtotal, tax_rate, tax, total, credits_applied, amount_due, rail, issued_at, due_at, paid_at, payment_attempts, metadata, created_at)
           values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22)
           on conflict (idempotency_key) do nothing returning id`,
          [
            id,
            number,
            input.customerId,
            input.subscriptionId,
            input.key,
            status,
            input.currency,
            input.period.from,
            input.period.to,
            subtotal.toFixed(digits),
            taxRate,
            tax.toFixed(digits),
            total.toFixed(digits),
            creditsApplied.toFixed(digits),
            amountDue.toFixed(digits),
            rail.name,
            issue ? now : null,
            issue ? new Date(now.getTime() + netDays * DAY) : null,
            status === 'paid' ? now : null,
            charge ? 1 : 0,
            JSON.stringify(input.metadata ?? {}),
            now,
          ],
        );
        if (inserted.length === 0) throw DUPLICATE; // rolls back the number and any credit drawn
        await insertLines(tx, id, input.lines, creditsApplied, input.period, input.currency);
        let payment: PaymentRow | null = null;
        if (charge) {
          [payment] = (await sqlRows<PaymentRow>(
            tx,
            `insert into billing_payments (id, invoice_id, customer_id, idempotency_key, purpose, rail, status, amount, currency, created_at, updated_at)
             values ($1, $2, $3, $4, 'invoice', $5, 'pending', $6, $7, $8, $8) returning ${PAYMENT_COLUMNS}`,
            [
              newId('pay'),
              id,
              input.customerId,
              `inv:${id}:attempt:1`,
              rail.name,
              amountDue.toFixed(digits),
              input.currency,
              now,
            ],
          )) as [PaymentRow];
        }
        return {
          id,
          number,
          status,
          customerId: input.customerId,
          subscriptionId: input.subscriptionId,
          currency: input.currency,
          total: total.toFixed(digits),
          amountDue: amountDue.toFixed(digits),
          periodFrom: input.period.from.toISOString(),
          periodTo: input.period.to.toISOString(),
          creditsApplied: creditsApplied.toFixed(digits),
          payment,
        };
      });
    } catch (error) {
      if (error === DUPLICATE) return null;
      throw error;
    }
  }

  /**
   * The billing run's common case (no credits to draw) as one SQL statement, atomic on its own:
   * number, invoice, lines and the first charge attempt. The counter only moves when no invoice
   * with the key exists; two runners inserting the same key at the same instant (which the run's
   * lock prevents) could leave one number unused.
   */
  async function createAndIssueInOneStatement(
    input: Parameters<typeof createAndIssue>[0],
    now: Date,
    digits: number,
  ): Promise<Created | null> {
    const id = newId('inv');
    const { subtotal, tax, total } = totals(input.lines, input.currency);
    const zero = total.lte(0);
    const status: InvoiceStatus = zero ? 'paid' : 'issued';
    const netDays = rail.collection === 'manual' ? (options.netDays ?? 30) : 0;
    const charge = !zero && rail.collection === 'automatic';
    const paymentId = newId('pay');
    const paymentKey = `inv:${id}:attempt:1`;
    const params: unknown[] = [
      input.key, // $1
      id,
      input.customerId,
      input.subscriptionId,
      status,
      input.currency,
      input.period.from,
      input.period.to,
      subtotal.toFixed(digits),
      taxRate, // $10
      tax.toFixed(digits),
      total.toFixed(digits),
      rail.name,
      now,
      new Date(now.getTime() + netDays * DAY),
      zero ? now : null,
      charge ? 1 : 0,
      JSON.stringify(input.metadata ?? {}), // $18
    ];
    const p = (value: unknown, cast: string) => {
      params.push(value);
      return `$${params.length}::${cast}`;
    };
    const lineValues = input.lines.map(
      (l, i) =>
        `(${[
          p(i + 1, 'int'),
          p(l.key, 'text'),
          p(l.kind, 'text'),
          p(l.description, 'text'),
          p(l.rateCardKey, 'text'),
          p(l.featureKey, 'text'),
          p(l.planKey, 'text'),
          p(l.planVersion, 'int'),
          p(l.periodFrom, 'timestamptz'),
          p(l.periodTo, 'timestamptz'),
          p(l.quantity, 'numeric'),
          p(l.unitPrice, 'numeric'),
          p(l.amount, 'numeric'),
          p(l.tiers ? JSON.stringify(l.tiers) : null, 'jsonb'),
        ].join(', ')})`,
    );
    const linesCte =
      lineValues.length === 0
        ? ''
        : `, lines as (
            insert into billing_invoice_lines (invoice_id, position, key, kind, description, rate_card_key, feature_key, plan_key,
              plan_version, period_from, period_to, quantity, unit_price, amount, tiers)
            select inv.id, v.* from inv, (values ${lineValues.join(', ')}) as v
          )`;
    const payCte = charge
      ? `, pay as (
            insert into billing_payments (id, invoice_id, customer_id, idempotency_key, purpose, rail, status, amount, currency, created_at, updated_at)
            select ${p(paymentId, 'text')}, inv.id, $3, ${p(paymentKey, 'text')}, 'invoice', $13, 'pending', $12::numeric, $6, $14, $14 from inv
          )`
      : '';
    const [row] = await sqlRows<{ id: string; number: string }>(
      db,
      `with num as (
         insert into billing_counters (name, value)
         select 'invoice', 1 where not exists (select 1 from billing_invoices where idempotency_key = $1)
         on conflict (name) do update set value = billing_counters.value + 1 returning value
       ), inv as (
         insert into billing_invoices (idempotency_key, id, customer_id, subscription_id, status, currency, period_from, period_to,
           subtotal, tax_rate, tax, total, credits_applied, amount_due, rail, issued_at, due_at, paid_at, payment_attempts, metadata,
           created_at, number)
         select $1, $2, $3, $4, $5, $6, $7, $8, $9::numeric, $10::numeric, $11::numeric, $12::numeric, 0, $12::numeric, $13, $14, $15,
           $16::timestamptz, $17::int, $18::jsonb, $14, 'INV-' || lpad(num.value::text, 6, '0') from num
         on conflict (idempotency_key) do nothing returning id, number
       )${linesCte}${payCte}
       select id, number from inv`,
      params,
    );
    if (!row) return null;
    const payment: PaymentRow | null = charge
      ? {
          id: paymentId,
          invoice_id: id,
          customer_id: input.customerId,
          idempotency_key: paymentKey,
          purpose: 'invoice',
          rail: rail.name,
          status: 'pending',
          amount: total.toFixed(digits),
          currency: input.currency,
          rail_ref: null,
          failure_code: null,
          failure_message: null,
          created_at: now,
        }
      : null;
    return {
      id,
      number: row.number,
      status,
      customerId: input.customerId,
      subscriptionId: input.subscriptionId,
      currency: input.currency,
      total: total.toFixed(digits),
      amountDue: total.toFixed(digits),
      periodFrom: input.period.from.toISOString(),
      periodTo: input.period.to.toISOString(),
      creditsApplied: formatMoney(0, input.currency),
      payment,
    };
  }

  /** Events and the first charge after `createAndIssue`, without reading the invoice back. */
  async function afterCreated(created: Created): Promise<void> {
    if (created.status === 'draft') return;
    const { payment, creditsApplied, ...summaryOfInvoice } = created;
    await events.emit('invoice.issued', { invoice: summaryOfInvoice });
    if (created.status === 'paid') await events.emit('invoice.paid', { invoice: summaryOfInvoice });
    else if (payment) await sendCharge(created, payment);
    if (new Decimal(creditsApplied).gt(0)) await autoRecharge(created.customerId, created.currency);
  }

  /**
   * Optional auto-recharge: when a customer's balance falls below their threshold, buy their
   * configured top-up through the rail (one pending top-up at a time).
   */
  async function autoRecharge(customerId: string, currency: string): Promise<boolean> {
    const settings = await credits.settings(customerId, currency);
    if (!settings.autoRecharge) return false;
    const balance = new Decimal(await credits.balance(customerId, currency));
    if (balance.gte(settings.autoRecharge.threshold)) return false;
    const [pending] = await sqlRows<{ n: number }>(
      db,
      `select count(*)::int as n from billing_payments where customer_id = $1 and purpose = 'topup' and status = 'pending'`,
      [customerId],
    );
    if ((pending?.n ?? 0) > 0) return false;
    const { amount } = settings.autoRecharge;
    const { paymentUrl } = await topUp(customerId, amount, currency);
    await events.emit('credits.auto_recharged', { customerId, currency, amount, paymentUrl });
    if (paymentUrl) {
      const [toPay, threshold] = [amount, settings.autoRecharge.threshold].map((v) =>
        formatMoney(v, currency),
      );
      await mailCustomer(
        customerId,
        `Prepaid credits: ${toPay} ${currency} to pay`,
        [
          `Your credit balance fell below ${threshold} ${currency}, so your automatic top-up of ${toPay} ${currency} is ready. Pay it here: ${paymentUrl}`,
          'The credits are added once the payment is through; no other automatic top-up starts while this one is open.',
        ].join('\n\n'),
      );
    }
    return true;
  }

  async function insertLines(
    tx: Db,
    invoiceId: string,
    lines: RatedLine[],
    creditsApplied: Decimal,
    period: { from: Date; to: Date },
    currency: string,
  ): Promise<void> {
    const rows: unknown[][] = lines.map((l, i) => [
      invoiceId,
      i + 1,
      l.key,
      l.kind,
      l.description,
      l.rateCardKey,
      l.featureKey,
      l.planKey,
      l.planVersion,
      l.periodFrom,
      l.periodTo,
      l.quantity,
      l.unitPrice,
      l.amount,
      l.tiers ? JSON.stringify(l.tiers) : null,
    ]);
    if (creditsApplied.gt(0)) {
      const amount = formatMoney(creditsApplied.neg(), currency);
      rows.push([
        invoiceId,
        rows.length + 1,
        'credits',
        'credits',
        'Credits applied',
        null,
        null,
        null,
        null,
        period.from,
        period.to,
        '1',
        amount,
        amount,
        null,
      ]);
    }
    if (rows.length === 0) return;
    const params: unknown[] = [];
    const values = rows.map((r) => {
      const base = params.length;
      params.push(...r);
      return `(${r.map((_, j) => `$${base + j + 1}`).join(', ')})`;
    });
    await sqlRows(
      tx,
      `insert into billing_invoice_lines (invoice_id, position, key, kind, description, rate_card_key, feature_key, plan_key,
         plan_version, period_from, period_to, quantity, unit_price, amount, tiers) values ${values.join(', ')}`,
      params,
    );
  }

  async function issueIn(tx: Db, id: string): Promise<void> {
    const row = await invoiceRow(tx, id, true);
    if (!row) throw problems.notFound(`No invoice ${id}.`);
    if (row.status !== 'draft')
      throw problems.conflict(`Invoice ${row.number ?? id} is ${row.status}, not a draft.`);
    const now = clock.now();
    const number = await nextInvoiceNumber(tx);
    const netDays = rail.collection === 'manual' ? (options.netDays ?? 30) : 0;
    const due = new Date(now.getTime() + netDays * DAY);
    const zero = new Decimal(row.amount_due).lte(0);
    await sqlRows(
      tx,
      `update billing_invoices set status = $2, number = $3, issued_at = $4, due_at = $5, paid_at = $6 where id = $1`,
      [id, zero ? 'paid' : 'issued', number, now, due, zero ? now : null],
    );
  }

  async function afterIssue(id: string): Promise<Invoice> {
    const invoice = await mustLoad(id);
    await events.emit('invoice.issued', { invoice: summary(invoice) });
    if (invoice.status === 'paid') await events.emit('invoice.paid', { invoice: summary(invoice) });
    else if (rail.collection === 'automatic') await collect(id);
    return (await load(id)) as Invoice;
  }

  function summary(invoice: Invoice) {
    return {
      id: invoice.id,
      number: invoice.number,
      customerId: invoice.customerId,
      subscriptionId: invoice.subscriptionId,
      status: invoice.status,
      currency: invoice.currency,
      total: invoice.total,
      amountDue: invoice.amountDue,
      periodFrom: invoice.periodFrom,
      periodTo: invoice.periodTo,
    };
  }

  /** Keys of lines already billed for this subscription period by an earlier invoice (e.g. checkout). */
  async function billedKeys(
    subscriptionId: string,
    periodFrom: Date,
    exceptKey: string,
  ): Promise<Set<string>> {
    const rows = await sqlRows<{ key: string }>(
      db,
      `select l.key from billing_invoice_lines l join billing_invoices i on i.id = l.invoice_id
       where i.subscription_id = $1 and i.period_from = $2 and i.status <> 'void' and i.idempotency_key <> $3`,
      [subscriptionId, periodFrom, exceptKey],
    );
    return new Set(rows.map((r) => r.key));
  }

  type CreateInput = Parameters<typeof createAndIssue>[0];

  /** What the run invoices for a subscription's current period: rated lines minus lines billed earlier. */
  async function periodInvoice(sub: BillingSubscription): Promise<CreateInput> {
    const period = sub.currentPeriod;
    const key = `sub:${sub.id}:${period.from.toISOString()}`;
    const { lines } = await rateSubscription(sub, period);
    const already =
      sub.hints && !sub.hints.hasPriorInvoice
        ? new Set<string>()
        : await billedKeys(sub.id, period.from, key);
    return {
      key,
      customerId: sub.customerId,
      subscriptionId: sub.id,
      currency: sub.currency,
      period,
      lines: already.size > 0 ? lines.filter((l) => !already.has(l.key)) : lines,
      applyCredits: !sub.hints || sub.hints.hasCredits,
      metadata: { planKey: sub.planKey, planVersion: sub.planVersion },
    };
  }

  /**
   * Bills one subscription's current period if it has ended; idempotent. `rolled`: the run
   * already moved the subscription past this period (the period stays listed until invoiced).
   * `made`: the run already created the invoice in a batch (null: it existed).
   */
  async function billSubscription(
    sub: BillingSubscription,
    rolled = false,
    made?: { created: Created | null },
  ): Promise<'invoiced' | 'existing'> {
    const period = sub.currentPeriod;
    const key = `sub:${sub.id}:${period.from.toISOString()}`;
    // listDue only returns periods without a period invoice; the unique key still guards races.
    const existing = sub.hints || made ? null : await invoiceRowByKey(db, key);
    let created: Created | null = made ? made.created : null;
    if (!existing && !made) created = await createAndIssue(await periodInvoice(sub));
    if (created) await afterCreated(created);
    else {
      const row = existing ?? (await invoiceRowByKey(db, key));
      if (row) await resumeCollection(row);
    }
    if (!rolled) await subscriptions.rollOver(sub.id, period.to);
    return created ? 'invoiced' : 'existing';
  }

  /**
   * The billing run's common case (no credits to draw) for many subscriptions in one SQL
   * statement, all or nothing: numbers (consecutive, in the given order), invoices, lines and
   * first charge attempts. Invoices whose key exists are left out (null in the result).
   */
  async function createAndIssueMany(inputs: CreateInput[]): Promise<Map<string, Created | null>> {
    const out = new Map<string, Created | null>();
    if (inputs.length === 0) return out;
    const now = clock.now();
    const netDays = rail.collection === 'manual' ? (options.netDays ?? 30) : 0;
    const prepared = inputs.map((input) => {
      const digits = minorUnits(input.currency);
      const { subtotal, tax, total } = totals(input.lines, input.currency);
      const zero = total.lte(0);
      const id = newId('inv');
      return {
        input,
        id,
        status: (zero ? 'paid' : 'issued') as InvoiceStatus,
        charge: !zero && rail.collection === 'automatic',
        paymentId: newId('pay'),
        paymentKey: `inv:${id}:attempt:1`,
        subtotal: subtotal.toFixed(digits),
        tax: tax.toFixed(digits),
        total: total.toFixed(digits),
        zero,
      };
    });
    const invoices = prepared.map((p, ord) => ({
      ord,
      key: p.input.key,
      id: p.id,
      customer_id: p.input.customerId,
      subscription_id: p.input.subscriptionId,
      status: p.status,
      currency: p.input.currency,
      period_from: p.input.period.from,
      period_to: p.input.period.to,
      subtotal: p.subtotal,
      tax: p.tax,
      total: p.total,
      paid_at: p.zero ? now : null,
      payment_attempts: p.charge ? 1 : 0,
      metadata: p.input.metadata ?? {},
    }));
    const lines = prepared.flatMap((p) =>
      p.input.lines.map((l, i) => ({
        invoice_id: p.id,
        position: i + 1,
        key: l.key,
        kind: l.kind,
        description: l.description,
        rate_card_key: l.rateCardKey,
        feature_key: l.featureKey,
        plan_key: l.planKey,
        plan_version: l.planVersion,
        period_from: l.periodFrom,
        period_to: l.periodTo,
        quantity: l.quantity,
        unit_price: l.unitPrice,
        amount: l.amount,
        tiers: l.tiers ?? null,
      })),
    );
    const payments = prepared
      .filter((p) => p.charge)
      .map((p) => ({
        id: p.paymentId,
        invoice_id: p.id,
        customer_id: p.input.customerId,
        idempotency_key: p.paymentKey,
        amount: p.total,
        currency: p.input.currency,
      }));
    const rows = await sqlRows<{ id: string; number: string }>(
      db,
      `with v as (
         select * from jsonb_to_recordset($1::jsonb) as v(ord int, key text, id text, customer_id text, subscription_id text,
           status text, currency text, period_from timestamptz, period_to timestamptz, subtotal numeric, tax numeric, total numeric,
           paid_at timestamptz, payment_attempts int, metadata jsonb)
       ), fresh as (
         select v.*, row_number() over (order by v.ord) as n, count(*) over () as k from v
         where not exists (select 1 from billing_invoices i where i.idempotency_key = v.key)
       ), num as (
         insert into billing_counters (name, value) select 'invoice', k from fresh limit 1
         on conflict (name) do update set value = billing_counters.value + excluded.value returning value
       ), inv as (
         insert into billing_invoices (idempotency_key, id, customer_id, subscription_id, status, currency, period_from, period_to,
           subtotal, tax_rate, tax, total, credits_applied, amount_due, rail, issued_at, due_at, paid_at, payment_attempts, metadata,
           created_at, number)
         select f.key, f.id, f.customer_id, f.subscription_id, f.status, f.currency, f.period_from, f.period_to, f.subtotal,
           $4::numeric, f.tax, f.total, 0, f.total, $5, $6, $7, f.paid_at, f.payment_attempts, f.metadata, $6,
           'INV-' || lpad((num.value - f.k + f.n)::text, 6, '0')
         from fresh f, num order by f.ord
         on conflict (idempotency_key) do nothing returning id, number
       ), lines as (
         insert into billing_invoice_lines (invoice_id, position, key, kind, description, rate_card_key, feature_key, plan_key,
           plan_version, period_from, period_to, quantity, unit_price, amount, tiers)
         select l.* from jsonb_to_recordset($2::jsonb) as l(invoice_id text, position int, key text, kind text, description text,
           rate_card_key text, feature_key text, plan_key text, plan_version int, period_from timestamptz, period_to timestamptz,
           quantity numeric, unit_price numeric, amount numeric, tiers jsonb)
         where l.invoice_id in (select id from inv)
       ), pay as (
         insert into billing_payments (id, invoice_id, customer_id, idempotency_key, purpose, rail, status, amount, currency, created_at, updated_at)
         select p.id, p.invoice_id, p.customer_id, p.idempotency_key, 'invoice', $5, 'pending', p.amount, p.currency, $6, $6
         from jsonb_to_recordset($3::jsonb) as p(id text, invoice_id text, customer_id text, idempotency_key text, amount numeric, currency text)
         where p.invoice_id in (select id from inv)
       )
       select id, number from inv`,
      [
        JSON.stringify(invoices),
        JSON.stringify(lines),
        JSON.stringify(payments),
        taxRate,
        rail.name,
        now,
        new Date(now.getTime() + netDays * DAY),
      ],
    );
    const numbers = new Map(rows.map((r) => [r.id, r.number]));
    for (const p of prepared) {
      const number = numbers.get(p.id);
      out.set(
        p.input.key,
        number === undefined
          ? null
          : {
              id: p.id,
              number,
              status: p.status,
              customerId: p.input.customerId,
              subscriptionId: p.input.subscriptionId,
              currency: p.input.currency,
              total: p.total,
              amountDue: p.total,
              periodFrom: p.input.period.from.toISOString(),
              periodTo: p.input.period.to.toISOString(),
              creditsApplied: formatMoney(0, p.input.currency),
              payment: p.charge
                ? {
                    id: p.paymentId,
                    invoice_id: p.id,
                    customer_id: p.input.customerId,
                    idempotency_key: p.paymentKey,
                    purpose: 'invoice',
                    rail: rail.name,
                    status: 'pending',
                    amount: p.total,
                    currency: p.input.currency,
                    rail_ref: null,
                    failure_code: null,
                    failure_message: null,
                    created_at: now,
                  }
                : null,
            },
      );
    }
    return out;
  }

  /** After a crash: an issued invoice whose first charge never reached the rail is charged now. */
  async function resumeCollection(row: InvoiceRow): Promise<void> {
    if (row.status === 'draft') {
      await store.transaction((tx) => issueIn(tx, row.id));
      await afterIssue(row.id);
      return;
    }
    if (row.status !== 'issued' || rail.collection !== 'automatic') return;
    if (row.payment_attempts === 0) {
      await collect(row.id);
      return;
    }
    const pending = await sqlRows<PaymentRow>(
      db,
      `select ${PAYMENT_COLUMNS} from billing_payments where invoice_id = $1 and status = 'pending' and rail_ref is null`,
      [row.id],
    );
    for (const p of pending) {
      await sendCharge(
        { id: row.id, customerId: row.customer_id, number: row.number, currency: row.currency },
        p,
      );
    }
  }

  /**
   * Crash recovery: a charge attempt recorded with its invoice but never answered by the rail
   * (the process died, or the rail call failed in transit) is sent again with the same
   * idempotency key, so the rail either performs it now or returns the one it already made.
   */
  async function resumeInterruptedCharges(): Promise<number> {
    const rows = await sqlRows<PaymentRow & { number: string | null }>(
      db,
      `select ${PAYMENT_COLUMNS_P}, i.number
       from billing_payments p join billing_invoices i on i.id = p.invoice_id
       where p.status = 'pending' and p.rail_ref is null and i.status = 'issued' and p.purpose = 'invoice'`,
    );
    for (const p of rows) {
      await sendCharge(
        { id: p.invoice_id as string, customerId: p.customer_id, number: p.number, currency: p.currency },
        p,
      );
    }
    return rows.length;
  }

  /** Rails that confirm asynchronously in process (sandbox) deliver before a run returns. */
  async function drainRail(): Promise<void> {
    const drain = (rail as Partial<{ drain(): Promise<void> }>).drain;
    if (typeof drain === 'function') await drain.call(rail);
  }

  /** Leader-only on PostgreSQL (`pg_try_advisory_xact_lock` via runExclusive); null when another runner holds it. */
  async function withLock<T>(name: string, fn: () => Promise<T>): Promise<T | null> {
    const result = await runExclusive(store, name, fn);
    return result.ran ? result.value : null;
  }

  /**
   * Bills every subscription whose period ended at or before `asOf`. Only one runner works at a
   * time on PostgreSQL (advisory lock); others return `locked: true` at once.
   */
  async function runBilling(
    runOptions: {
      asOf?: Date;
      onProgress?: (p: RunProgress) => void;
      /** Subscriptions billed at once (default 8 on PostgreSQL, 1 on the single-connection embedded store). */
      concurrency?: number;
    } = {},
  ): Promise<RunSummary> {
    const asOf = runOptions.asOf ?? clock.now();
    const concurrency = runOptions.concurrency ?? (store.kind === 'postgres' ? 8 : 1);
    const summaryOut: RunSummary = {
      subscriptions: 0,
      invoicesCreated: 0,
      alreadyInvoiced: 0,
      charged: 0,
      failed: 0,
      locked: false,
    };
    const result = await withLock(BILLING_LOCK, async () => {
      await resumeInterruptedCharges();
      let total = 0;
      // Passes repeat until nothing is due, so a subscription several periods behind catches up.
      for (let pass = 0; pass < 120; pass++) {
        let afterId: string | null = null;
        let billedInPass = 0;
        for (;;) {
          const batch = await subscriptions.listDue(asOf, afterId, 500);
          if (batch.length === 0) break;
          total += batch.length;
          // The embedded store has no autovacuum: without fresh statistics, plans made while the
          // billing tables were small (foreign-key checks included) keep scanning them whole.
          if (store.kind === 'pglite') await store.exec(ANALYZE_BILLING);
          if (rail.collection === 'automatic') await prefetchRailCustomers(batch.map((b) => b.customerId));
          // Roll the batch over first, in one transaction: each billed period stays recorded in
          // subscription_periods until its invoice exists, so a crash after this point loses nothing
          // (the rerun lists the periods without an invoice), and the invoice key prevents duplicates.
          const rolled = subscriptions.rollOverMany !== undefined;
          await subscriptions.rollOverMany?.(batch.map((b) => b.id));
          const billOne = async (sub: BillingSubscription, made?: { created: Created | null }) => {
            try {
              const outcome = await billSubscription(sub, rolled, made);
              summaryOut.subscriptions++;
              billedInPass++;
              if (outcome === 'invoiced') summaryOut.invoicesCreated++;
              else summaryOut.alreadyInvoiced++;
            } catch (error) {
              if (error instanceof ProblemError && error.status < 500) {
                summaryOut.failed++;
                log.warn({ err: error, subscriptionId: sub.id }, 'billing a subscription failed');
              } else throw error;
            }
            runOptions.onProgress?.({
              done: summaryOut.subscriptions,
              total,
              invoiced: summaryOut.invoicesCreated,
              skipped: summaryOut.alreadyInvoiced,
              subscriptionId: sub.id,
            });
          };
          // Rate a group (several subscriptions at once on PostgreSQL), create its invoices in one
          // statement, then charge each (again several at once). Each one's work is keyed, so the
          // order within a group does not matter; invoice numbers follow the subscription order.
          for (let i = 0; i < batch.length; i += INVOICE_GROUP) {
            const group = batch.slice(i, i + INVOICE_GROUP);
            const inputs = new Map<string, CreateInput>();
            await inParallel(
              group.filter((sub) => sub.hints && !sub.hints.hasCredits), // credits: their own transaction
              concurrency,
              async (sub) => {
                try {
                  inputs.set(sub.id, await periodInvoice(sub));
                } catch (error) {
                  // Billed (and reported) one by one below.
                  if (!(error instanceof ProblemError && error.status < 500)) throw error;
                }
              },
            );
            const created = await createAndIssueMany(group.flatMap((sub) => inputs.get(sub.id) ?? []));
            await inParallel(group, concurrency, async (sub) => {
              const input = inputs.get(sub.id);
              await billOne(sub, input ? { created: created.get(input.key) ?? null } : undefined);
            });
            afterId = group[group.length - 1]?.id ?? afterId;
          }
        }
        if (billedInPass === 0) break;
      }
      return summaryOut;
    });
    prefetchedRailCustomers.clear();
    await drainRail();
    if (result === null) return { ...summaryOut, locked: true };
    return result;
  }

  /** Runs `fn` over `items`, `concurrency` at a time; the first failure stops the rest and is thrown. */
  async function inParallel<T>(
    items: readonly T[],
    concurrency: number,
    fn: (item: T) => Promise<void>,
  ): Promise<void> {
    let next = 0;
    let failure: { error: unknown } | null = null;
    await Promise.all(
      Array.from({ length: Math.min(Math.max(concurrency, 1), items.length) }, async () => {
        while (failure === null && next < items.length) {
          const item = items[next++] as T;
          try {
            await fn(item);
          } catch (error) {
            failure ??= { error };
          }
        }
      }),
    );
    if (failure !== null) throw (failure as { error: unknown }).error;
  }

  /** Rail customers of the billing run's current batch, read in one query. */
  const prefetchedRailCustomers = new Map<string, RailCustomerRow>();

  async function prefetchRailCustomers(customerIds: string[]): Promise<void> {
    prefetchedRailCustomers.clear();
    const rows = await sqlRows<RailCustomerRow>(
      db,
      `select customer_id, rail, rail_customer_id, payment_method_id, payment_method_label
       from billing_rail_customers where rail = $1 and customer_id = any($2::text[])`,
      [rail.name, customerIds],
    );
    for (const r of rows) prefetchedRailCustomers.set(r.customer_id, r);
  }

  async function ensureRailCustomer(customerId: string) {
    const prefetched = prefetchedRailCustomers.get(customerId);
    if (prefetched) {
      prefetchedRailCustomers.delete(customerId);
      return prefetched;
    }
    const existing = await railCustomer(db, customerId, rail.name);
    if (existing) return existing;
    const customer = await subscriptions.customer(customerId);
    const { railCustomerId } = await rail.createCustomer({
      customerId,
      name: customer?.name ?? customerId,
      email: customer?.email ?? null,
    });
    await sqlRows(
      db,
      `insert into billing_rail_customers (customer_id, rail, rail_customer_id) values ($1, $2, $3)
       on conflict (customer_id, rail) do nothing`,
      [customerId, rail.name, railCustomerId],
    );
    return (await railCustomer(db, customerId, rail.name)) as NonNullable<
      Awaited<ReturnType<typeof railCustomer>>
    >;
  }

  async function savePaymentMethod(customerId: string, paymentMethodId: string, label: string | null) {
    await sqlRows(
      db,
      'update billing_rail_customers set payment_method_id = $3, payment_method_label = $4 where customer_id = $1 and rail = $2',
      [customerId, rail.name, paymentMethodId, label],
    );
  }

  /**
   * Starts a charge attempt for an issued invoice (first charge or a dunning retry). An invoice
   * whose charge waits on the customer's payment link (Paddle) gets no second charge (paying the
   * first link must still count): the attempt re-sends that link.
   */
  async function collect(invoiceId: string): Promise<PaymentRow | null> {
    const payment = await store.transaction(async (tx) => {
      const row = await invoiceRow(tx, invoiceId, true);
      if (!row || row.status !== 'issued' || new Decimal(row.amount_due).lte(0)) return null;
      const attempt = row.payment_attempts + 1;
      if (row.payment_url) {
        const [waiting] = await sqlRows<PaymentRow>(
          tx,
          `select ${PAYMENT_COLUMNS} from billing_payments where invoice_id = $1 and purpose = 'invoice' and status = 'pending'
           order by created_at desc limit 1`,
          [row.id],
        );
        if (waiting) {
          await sqlRows(
            tx,
            'update billing_invoices set payment_attempts = $2, next_payment_attempt_at = null where id = $1',
            [row.id, attempt],
          );
          return { row: { ...row, payment_attempts: attempt }, payment: waiting, link: row.payment_url };
        }
      }
      const [p] = await sqlRows<PaymentRow>(
        tx,
        `insert into billing_payments (id, invoice_id, customer_id, idempotency_key, purpose, rail, status, amount, currency, created_at, updated_at)
         values ($1, $2, $3, $4, 'invoice', $5, 'pending', $6, $7, $8, $8)
         on conflict (idempotency_key) do nothing returning ${PAYMENT_COLUMNS}`,
        [
          newId('pay'),
          row.id,
          row.customer_id,
          `inv:${row.id}:attempt:${attempt}`,
          rail.name,
          row.amount_due,
          row.currency,
          clock.now(),
        ],
      );
      await sqlRows(
        tx,
        'update billing_invoices set payment_attempts = $2, next_payment_attempt_at = null where id = $1',
        [row.id, attempt],
      );
      return p ? { row, payment: p, link: null } : null;
    });
    if (!payment) return null;
    const { row } = payment;
    if (payment.link) {
      await enterDunning(row, PAYMENT_REQUIRED, 'the invoice is not paid yet', payment.link);
      return payment.payment;
    }
    return sendCharge(
      { id: row.id, customerId: row.customer_id, number: row.number, currency: row.currency },
      payment.payment,
    );
  }

  async function sendCharge(
    invoice: { id: string; customerId: string; number: string | null; currency: string },
    payment: PaymentRow,
  ): Promise<PaymentRow> {
    const customer = await ensureRailCustomer(invoice.customerId);
    const result = await rail.chargeInvoice({
      reference: invoice.id,
      railCustomerId: customer.rail_customer_id,
      paymentMethodId: customer.payment_method_id,
      amount: payment.amount,
      currency: invoice.currency,
      description: `Invoice ${invoice.number ?? invoice.id}`,
      idempotencyKey: payment.idempotency_key,
      metadata: { invoiceId: invoice.id, paymentId: payment.id },
    });
    // A pending charge gets its rail reference with its confirmation (matched by idempotency key).
    if (result.status !== 'pending' || !rail.confirmsByIdempotencyKey) {
      await sqlRows(
        db,
        'update billing_payments set rail_ref = coalesce($2, rail_ref), updated_at = $3 where id = $1',
        [payment.id, result.railRef, clock.now()],
      );
    }
    if (result.status === 'succeeded') await paymentSucceeded(payment.id);
    else if (result.status === 'failed') {
      await paymentFailed(
        payment.id,
        result.failureCode ?? 'failed',
        result.failureMessage ?? 'Payment failed',
      );
    } else if (result.actionUrl) await awaitCustomer(invoice.id, result.actionUrl);
    return payment;
  }

  /**
   * The rail could not collect by itself and answered with a link where the customer pays
   * (Paddle renewals). The invoice is due now and unpaid: it enters dunning as a declined charge
   * would (past due, reminders with the link on the retry days, suspension after the grace
   * period), while the charge stays pending, so paying through the link settles it whenever.
   */
  async function awaitCustomer(invoiceId: string, url: string): Promise<void> {
    const [row] = await sqlRows<{ id: string }>(
      db,
      `update billing_invoices set payment_url = $2 where id = $1 and status = 'issued' returning id`,
      [invoiceId, url],
    );
    const fresh = row ? await invoiceRow(db, row.id) : null;
    // Paid already (the webhook can beat the rail's answer): nothing is owed.
    if (fresh?.status === 'issued')
      await enterDunning(fresh, PAYMENT_REQUIRED, 'the invoice is not paid yet', url);
  }

  async function paymentById(id: string): Promise<PaymentRow | null> {
    const [p] = await sqlRows<PaymentRow>(
      db,
      `select ${PAYMENT_COLUMNS} from billing_payments where id = $1`,
      [id],
    );
    return p ?? null;
  }

  async function paymentSucceeded(paymentId: string): Promise<void> {
    const updated = await sqlRows<PaymentRow>(
      db,
      `update billing_payments set status = 'succeeded', updated_at = $2 where id = $1 and status = 'pending' returning ${PAYMENT_COLUMNS}`,
      [paymentId, clock.now()],
    );
    const payment = updated[0];
    if (!payment) return; // already processed (webhook retried)
    if (payment.purpose === 'topup') {
      await credits.grant({
        customerId: payment.customer_id,
        currency: payment.currency,
        amount: payment.amount,
        kind: 'topup',
        note: 'Top-up',
        idempotencyKey: `topup:${payment.id}`,
      });
      await events.emit('credits.topped_up', {
        customerId: payment.customer_id,
        amount: payment.amount,
        currency: payment.currency,
      });
      return;
    }
    if (payment.invoice_id) await settlePaid(payment.invoice_id, { paymentId });
  }

  async function paymentFailed(paymentId: string, code: string, message: string): Promise<void> {
    const updated = await sqlRows<PaymentRow>(
      db,
      `update billing_payments set status = 'failed', failure_code = $2, failure_message = $3, updated_at = $4
       where id = $1 and status = 'pending' returning ${PAYMENT_COLUMNS}`,
      [paymentId, code, message, clock.now()],
    );
    const payment = updated[0];
    if (!payment?.invoice_id) return;
    const row = await invoiceRow(db, payment.invoice_id);
    if (!row || row.status !== 'issued') return;
    if (row.metadata && (row.metadata as { first?: boolean }).first === true && row.payment_attempts === 1) {
      await undoCheckout(row, code, message);
      return;
    }
    await enterDunning(row, code, message, null);
  }

  /**
   * An issued invoice its latest attempt did not pay (declined, or waiting on the customer's
   * payment link): the next attempt per `retryDays` after the first failure, the subscription
   * past due, the `invoice.payment_failed` event and a mail to the customer.
   */
  async function enterDunning(
    row: InvoiceRow,
    code: string,
    message: string,
    paymentUrl: string | null,
  ): Promise<void> {
    const now = clock.now();
    const firstFailed = row.first_failed_at ? new Date(row.first_failed_at) : now;
    const retryIndex = row.payment_attempts - 1;
    const next =
      retryIndex < retryDays.length
        ? new Date(firstFailed.getTime() + (retryDays[retryIndex] as number) * DAY)
        : null;
    await sqlRows(
      db,
      `update billing_invoices set first_failed_at = coalesce(first_failed_at, $2), last_payment_error = $3, next_payment_attempt_at = $4 where id = $1`,
      [row.id, now, `${code}: ${message}`, next],
    );
    if (row.subscription_id) {
      const sub = await subscriptions.get(row.subscription_id);
      if (sub && (sub.status === 'active' || sub.status === 'trialing')) {
        await subscriptions.markPastDue(sub.id);
        await events.emit('subscription.past_due', { subscriptionId: sub.id, customerId: sub.customerId });
      }
    }
    const invoice = await mustLoad(row.id);
    await events.emit('invoice.payment_failed', {
      invoice: summary(invoice),
      failureCode: code,
      failureMessage: message,
      nextPaymentAttemptAt: invoice.nextPaymentAttemptAt,
      paymentUrl,
    });
    const name = invoice.number ?? invoice.id;
    const grace = `Your API access continues for ${config.billing.gracePeriodDays} days after the ${paymentUrl ? 'invoice was issued' : 'first failed payment'}.`;
    if (paymentUrl) {
      await mailCustomer(
        invoice.customerId,
        `Invoice ${name}: ${invoice.amountDue} ${invoice.currency} to pay`,
        [
          `Invoice ${name} for ${invoice.amountDue} ${invoice.currency} is due. Pay it here: ${paymentUrl}`,
          invoice.nextPaymentAttemptAt
            ? `If it is still open, we will remind you on ${invoice.nextPaymentAttemptAt.slice(0, 10)}.`
            : 'This is the last reminder.',
          `Your invoices: ${options.portalInvoicesUrl?.() ?? '/portal/invoices'}`,
          grace,
        ].join('\n\n'),
      );
      return;
    }
    await mailCustomer(
      invoice.customerId,
      `Payment failed for invoice ${name}`,
      [
        `We could not collect ${invoice.amountDue} ${invoice.currency} for invoice ${name} (${message}).`,
        invoice.nextPaymentAttemptAt
          ? `We will try again on ${invoice.nextPaymentAttemptAt.slice(0, 10)}.`
          : 'We will not retry automatically.',
        `Update your card or pay the invoice: ${options.portalInvoicesUrl?.() ?? '/portal/invoices'}`,
        grace,
      ].join('\n\n'),
    );
  }

  /**
   * The first charge of a new subscription (checkout) was declined: compensate, so the checkout
   * leaves nothing behind. The invoice is voided (credits it drew go back), the subscription is
   * canceled now; the customer can check out again with another card. The void invoice takes the
   * key of its period's invoice (`sub:<id>:<from>`), so the billing run never bills that period.
   */
  async function undoCheckout(row: InvoiceRow, code: string, message: string): Promise<void> {
    const voided = await sqlRows<{ id: string }>(
      db,
      `update billing_invoices set status = 'void', voided_at = $2, next_payment_attempt_at = null, last_payment_error = $3,
         idempotency_key = replace(idempotency_key, ':first:', ':')
       where id = $1 and status = 'issued' returning id`,
      [row.id, clock.now(), `${code}: ${message}`],
    );
    if (voided.length === 0) return;
    const drawn = await sqlRows<{ id: string; currency: string; amount: string; grant_id: string | null }>(
      db,
      `select id, currency, amount::text as amount, grant_id from billing_credit_ledger
       where invoice_id = $1 and kind in ('usage', 'release')`,
      [row.id],
    );
    for (const d of drawn) {
      await sqlRows(
        db,
        `insert into billing_credit_ledger (id, customer_id, currency, kind, amount, grant_id, invoice_id, idempotency_key, note, created_at)
         values ($1, $2, $3, 'release', $4, $5, $6, $7, 'Invoice voided: checkout declined', $8)
         on conflict (idempotency_key) do nothing`,
        [
          newId('crd'),
          row.customer_id,
          d.currency,
          new Decimal(d.amount).neg().toString(),
          d.grant_id,
          row.id,
          `void:${d.id}`,
          clock.now(),
        ],
      );
    }
    if (drawn.length > 0) await credits.refresh(row.customer_id);
    if (row.subscription_id && subscriptions.cancel) {
      const sub = await subscriptions.get(row.subscription_id);
      if (sub && sub.status !== 'canceled') await subscriptions.cancel(sub.id);
    }
    const invoice = await mustLoad(row.id);
    await events.emit('invoice.void', { invoice: summary(invoice) });
    await events.emit('invoice.payment_failed', {
      invoice: summary(invoice),
      failureCode: code,
      failureMessage: message,
      nextPaymentAttemptAt: null,
    });
  }

  /** Best effort: a mail that cannot be sent never fails billing. */
  async function mailCustomer(customerId: string, subject: string, text: string): Promise<void> {
    if (!options.mail) return;
    try {
      const customer = await subscriptions.customer(customerId);
      if (customer?.email) await options.mail.send({ to: customer.email, subject, text });
    } catch (error) {
      log.warn({ err: error, customerId }, 'billing mail failed');
    }
  }

  /** Marks an issued (or uncollectible) invoice paid; false when it was not payable. */
  interface PaidRow {
    id: string;
    number: string | null;
    customer_id: string;
    subscription_id: string | null;
    currency: string;
    total: string;
    amount_due: string;
    period_from: Date | string;
    period_to: Date | string;
    first_failed_at: Date | string | null;
  }
  const PAID_RETURNING = `id, number, customer_id, subscription_id, currency, total::text as total, amount_due::text as amount_due,
                 period_from, period_to, first_failed_at`;

  async function settlePaid(id: string, paidOptions: { paymentId?: string } = {}): Promise<boolean> {
    const [row] = await sqlRows<PaidRow>(
      db,
      `update billing_invoices set status = 'paid', paid_at = $2, next_payment_attempt_at = null
       where id = $1 and status in ('issued', 'uncollectible') returning ${PAID_RETURNING}`,
      [id, clock.now()],
    );
    if (!row) return false;
    if (!paidOptions.paymentId && rail.collection === 'manual') {
      await sqlRows(
        db,
        `insert into billing_payments (id, invoice_id, customer_id, idempotency_key, purpose, rail, status, amount, currency, created_at, updated_at)
         values ($1, $2, $3, $4, 'invoice', 'manual', 'succeeded', $5, $6, $7, $7) on conflict (idempotency_key) do nothing`,
        [newId('pay'), id, row.customer_id, `inv:${id}:manual`, row.amount_due, row.currency, clock.now()],
      );
    }
    await afterPaid(row);
    return true;
  }

  async function afterPaid(row: PaidRow): Promise<void> {
    const digits = minorUnits(row.currency);
    await events.emit('invoice.paid', {
      invoice: {
        id: row.id,
        number: row.number,
        customerId: row.customer_id,
        subscriptionId: row.subscription_id,
        status: 'paid',
        currency: row.currency,
        total: new Decimal(row.total).toFixed(digits),
        amountDue: new Decimal(row.amount_due).toFixed(digits),
        periodFrom: new Date(row.period_from).toISOString(),
        periodTo: new Date(row.period_to).toISOString(),
      },
    });
    // Only an invoice that had failed (or gone overdue) can be what holds a subscription back.
    if (row.first_failed_at && row.subscription_id)
      await reactivateIfSettled({ subscriptionId: row.subscription_id });
  }

  /**
   * A successful invoice payment confirmed by the rail, in one statement: the event is recorded
   * (deduplicated), the pending payment succeeds and its invoice is paid. Returns false when the
   * statement did not apply (top-ups, unknown payments: the general path handles them).
   */
  async function confirmInvoicePayment(event: {
    id: string;
    type: string;
    railRef: string;
    idempotencyKey?: string;
  }): Promise<'done' | 'duplicate' | 'other'> {
    const now = clock.now();
    const [result] = await sqlRows<{
      fresh: number;
      payment: { purpose: string } | null;
      invoice: PaidRow | null;
    }>(
      db,
      `with ev as (
         insert into billing_rail_events (rail, event_id, type) values ($1, $2, $3) on conflict do nothing returning event_id
       ), pay as (
         update billing_payments set status = 'succeeded', rail_ref = coalesce(rail_ref, $4), updated_at = $6
         where ${event.idempotencyKey ? 'idempotency_key = $5' : 'rail_ref = $4 and $5::text is null'} and status = 'pending' and purpose = 'invoice'
           and exists (select 1 from ev)
         returning invoice_id, purpose
       ), inv as (
         update billing_invoices set status = 'paid', paid_at = $6, next_payment_attempt_at = null
         where id = (select invoice_id from pay limit 1) and status in ('issued', 'uncollectible')
         returning ${PAID_RETURNING}
       )
       select (select count(*) from ev)::int as fresh, (select row_to_json(pay) from pay limit 1) as payment,
              (select row_to_json(inv) from inv limit 1) as invoice`,
      [rail.name, event.id, event.type, event.railRef, event.idempotencyKey ?? null, now],
    );
    if (!result || result.fresh === 0) return 'duplicate';
    if (!result.payment) {
      // Not a pending invoice payment: undo the dedupe row so the general path records it.
      await sqlRows(db, 'delete from billing_rail_events where rail = $1 and event_id = $2', [
        rail.name,
        event.id,
      ]);
      return 'other';
    }
    if (result.invoice) await afterPaid(result.invoice);
    return 'done';
  }

  async function markPaid(id: string): Promise<Invoice> {
    const changed = await settlePaid(id);
    const invoice = await mustLoad(id);
    if (!changed && invoice.status !== 'paid') {
      throw problems.conflict(
        `Invoice ${invoice.number ?? id} is ${invoice.status}; only issued invoices can be paid.`,
      );
    }
    return invoice;
  }

  /** Paying the last overdue invoice brings a past-due or suspended subscription back at once. */
  async function reactivateIfSettled(invoice: { subscriptionId: string | null }): Promise<void> {
    if (!invoice.subscriptionId) return;
    const sub = await subscriptions.get(invoice.subscriptionId);
    if (!sub || (sub.status !== 'past_due' && sub.status !== 'suspended')) return;
    const [open] = await sqlRows<{ n: number }>(
      db,
      `select count(*)::int as n from billing_invoices where subscription_id = $1 and status = 'issued' and first_failed_at is not null`,
      [sub.id],
    );
    if ((open?.n ?? 0) > 0) return;
    await subscriptions.reactivate(sub.id);
    await events.emit('subscription.reactivated', { subscriptionId: sub.id, customerId: sub.customerId });
  }

  async function transition(id: string, to: InvoiceStatus, allowed: InvoiceStatus[]): Promise<Invoice> {
    const changed = await sqlRows<{ id: string }>(
      db,
      `update billing_invoices set status = $2, voided_at = case when $2 = 'void' then $3 else voided_at end,
         next_payment_attempt_at = null
       where id = $1 and status = any($4::text[]) returning id`,
      [id, to, clock.now(), allowed],
    );
    const invoice = await mustLoad(id);
    if (changed.length === 0) {
      throw problems.conflict(
        `Invoice ${invoice.number ?? id} is ${invoice.status}; it cannot become ${to}.`,
      );
    }
    await events.emit(`invoice.${to}`, { invoice: summary(invoice) });
    if (to === 'void') await reactivateIfSettled(invoice);
    return invoice;
  }

  /**
   * Confirmations that arrive together (the sandbox delivers a billing run's charges a tick
   * apart) are applied in one statement per turn of the event loop, each event as
   * `confirmInvoicePayment` would; every caller still waits for its own outcome.
   */
  const confirmQueue: {
    event: { id: string; type: string; railRef: string; idempotencyKey: string };
    done: (outcome: 'done' | 'duplicate' | 'other') => void;
    fail: (error: unknown) => void;
  }[] = [];

  function confirmQueued(event: { id: string; type: string; railRef: string; idempotencyKey: string }) {
    return new Promise<'done' | 'duplicate' | 'other'>((done, fail) => {
      confirmQueue.push({ event, done, fail });
      if (confirmQueue.length === 1) setImmediate(flushConfirms);
    });
  }

  async function flushConfirms(): Promise<void> {
    const items = confirmQueue.splice(0, 500);
    if (confirmQueue.length > 0) setImmediate(flushConfirms);
    if (items.length === 1) {
      const [only] = items as [(typeof items)[0]];
      await confirmInvoicePayment(only.event).then(only.done, only.fail);
      return;
    }
    let results: { event_id: string; paid: boolean; invoice: PaidRow | null }[];
    try {
      results = await sqlRows(
        db,
        `with e as (
           select distinct on (event_id) * from jsonb_to_recordset($1::jsonb) as e(event_id text, type text, rail_ref text, key text)
         ), ev as (
           insert into billing_rail_events (rail, event_id, type) select $2, event_id, type from e on conflict do nothing returning event_id
         ), pay as (
           update billing_payments p set status = 'succeeded', rail_ref = coalesce(p.rail_ref, e.rail_ref), updated_at = $3
           from e join ev on ev.event_id = e.event_id
           where p.idempotency_key = e.key and p.status = 'pending' and p.purpose = 'invoice'
           returning p.invoice_id, e.event_id
         ), inv as (
           update billing_invoices set status = 'paid', paid_at = $3, next_payment_attempt_at = null
           from pay where billing_invoices.id = pay.invoice_id and billing_invoices.status in ('issued', 'uncollectible')
           returning ${PAID_RETURNING.replace(/(^|, )(\w)/g, '$1billing_invoices.$2')}, pay.event_id
         )
         select ev.event_id, pay.event_id is not null as paid, row_to_json(inv) as invoice
         from ev left join pay on pay.event_id = ev.event_id left join inv on inv.event_id = ev.event_id`,
        [
          JSON.stringify(
            items.map((i) => ({
              event_id: i.event.id,
              type: i.event.type,
              rail_ref: i.event.railRef,
              key: i.event.idempotencyKey,
            })),
          ),
          rail.name,
          clock.now(),
        ],
      );
    } catch (error) {
      for (const item of items) item.fail(error);
      return;
    }
    const byEvent = new Map(results.map((r) => [r.event_id, r]));
    const settled = new Set<string>();
    for (const item of items) {
      const r = byEvent.get(item.event.id);
      try {
        if (!r || settled.has(item.event.id)) item.done('duplicate');
        else if (!r.paid) {
          // Not a pending invoice payment: undo the dedupe row so the general path records it.
          settled.add(item.event.id);
          await sqlRows(db, 'delete from billing_rail_events where rail = $1 and event_id = $2', [
            rail.name,
            item.event.id,
          ]);
          item.done('other');
        } else {
          settled.add(item.event.id);
          if (r.invoice) await afterPaid(r.invoice);
          item.done('done');
        }
      } catch (error) {
        item.fail(error);
      }
    }
  }

  async function handleRailEvent(event: RailEvent): Promise<void> {
    if (
      event.type === 'payment.succeeded' &&
      (await (event.idempotencyKey
        ? confirmQueued({ ...event, idempotencyKey: event.idempotencyKey })
        : confirmInvoicePayment(event))) !== 'other'
    )
      return;
    const fresh = await sqlRows(
      db,
      'insert into billing_rail_events (rail, event_id, type) values ($1, $2, $3) on conflict do nothing returning event_id',
      [rail.name, event.id, event.type],
    );
    if (fresh.length === 0) return; // delivered before
    if (event.type === 'payment.succeeded' || event.type === 'payment.failed') {
      const [payment] = await sqlRows<PaymentRow>(
        db,
        `select ${PAYMENT_COLUMNS} from billing_payments where rail_ref = $1 or ($2::text is not null and idempotency_key = $2) limit 1`,
        [event.railRef, event.idempotencyKey ?? null],
      );
      if (!payment) {
        log.warn({ event }, 'payment event for an unknown payment');
        return;
      }
      if (!payment.rail_ref) {
        await sqlRows(db, 'update billing_payments set rail_ref = $2 where id = $1', [
          payment.id,
          event.railRef,
        ]);
      }
      if (event.type === 'payment.succeeded') await paymentSucceeded(payment.id);
      else await paymentFailed(payment.id, event.failureCode, event.failureMessage);
      return;
    }
    if (event.type === 'checkout.completed') {
      const customerId = event.metadata.customerId;
      if (!customerId) return;
      if (event.paymentMethodId)
        await savePaymentMethod(customerId, event.paymentMethodId, event.paymentMethodLabel ?? null);
      await afterPaymentMethod(customerId, event.metadata);
    }
  }

  /**
   * A payment method arrived (sandbox card or hosted checkout): subscribe if a plan was chosen,
   * then collect what is open for the customer (first invoice, overdue invoices).
   */
  async function afterPaymentMethod(
    customerId: string,
    metadata: Record<string, string>,
  ): Promise<Invoice | null> {
    let first: Invoice | null = null;
    if (metadata.planKey && subscriptions.subscribe) {
      const live = (await subscriptions.listForCustomer(customerId)).some((s) => s.status !== 'canceled');
      const sub = await subscriptions.subscribe(customerId, metadata.planKey);
      // A new subscription pays its first in-advance fees now; a plan change is prorated by
      // second on the period's invoice instead (credit for the old plan, charge for the new).
      if (!live) first = await invoiceFirstPeriod(sub);
    }
    // Retry open invoices at once with the new card.
    const open = await sqlRows<{ id: string }>(
      db,
      `select id from billing_invoices where customer_id = $1 and status = 'issued' and amount_due > 0 order by created_at`,
      [customerId],
    );
    for (const o of open) if (o.id !== first?.id) await collect(o.id);
    return first;
  }

  /**
   * What checkout will charge at once for a new subscription to `planKey` (its first phase's
   * in-advance fees, with tax), or null when nothing (a plan change, a free or usage-only plan).
   */
  async function firstCharge(customerId: string, planKey: string): Promise<string | null> {
    const plan = config.plans.find((p) => p.key === planKey);
    if (!plan) return null;
    if ((await subscriptions.listForCustomer(customerId)).some((s) => s.status !== 'canceled')) return null;
    const phase = plan.phases?.[0] ?? { key: 'default', trial: false, rateCards: plan.rateCards ?? [] };
    const from = clock.now();
    const period = { from, to: new Date(from.getTime() + 30 * DAY) };
    const lines = rate({
      period,
      currency: plan.currency,
      segments: [
        {
          ...period,
          planKey,
          planVersion: 0,
          phaseKey: phase.key,
          trial: phase.trial ?? false,
          rateCards: phase.rateCards ?? [],
          usage: {},
        },
      ],
    }).filter((l) => l.timing === 'in_advance');
    const { total } = totals(lines, plan.currency);
    return total.gt(0) ? formatMoney(total, plan.currency) : null;
  }

  /** The in-advance fees of a new subscription's first period, issued and charged now. */
  async function invoiceFirstPeriod(sub: BillingSubscription): Promise<Invoice | null> {
    const period = sub.currentPeriod;
    const key = `sub:${sub.id}:first:${period.from.toISOString()}`;
    const segments = await subscriptions.segments(sub, period);
    const lines = rate({
      period,
      currency: sub.currency,
      segments: segments.slice(0, 1).map((s) => ({ ...s, usage: {} })),
    }).filter((l) => l.timing === 'in_advance');
    if (lines.length === 0) return null;
    const created = await createAndIssue({
      key,
      customerId: sub.customerId,
      subscriptionId: sub.id,
      currency: sub.currency,
      period,
      lines,
      applyCredits: true,
      metadata: { planKey: sub.planKey, planVersion: sub.planVersion, first: true },
    });
    if (created) {
      await afterCreated(created);
      return mustLoad(created.id);
    }
    const row = await invoiceRowByKey(db, key);
    if (!row) return null;
    await resumeCollection(row);
    return mustLoad(row.id);
  }

  /**
   * Buys prepaid credits through the rail; the ledger gets the top-up when the payment succeeds.
   * A rail that cannot collect by itself (Paddle) answers with a link where the customer pays:
   * `paymentUrl`, where the caller must send the customer; the top-up stays pending (and the
   * ledger untouched) until the provider confirms the payment.
   */
  async function topUp(
    customerId: string,
    amount: string,
    currency: string,
  ): Promise<{ payment: PaymentRow; paymentUrl: string | null }> {
    if (!new Decimal(amount).gt(0)) throw problems.badRequest('A top-up needs a positive amount.');
    const customer = await ensureRailCustomer(customerId);
    const [payment] = await sqlRows<PaymentRow>(
      db,
      `insert into billing_payments (id, invoice_id, customer_id, idempotency_key, purpose, rail, status, amount, currency, created_at, updated_at)
         values ($1, null, $2, $3, 'topup', $4, 'pending', $5, $6, $7, $7) returning ${PAYMENT_COLUMNS}`,
      [
        newId('pay'),
        customerId,
        newId('topup'),
        rail.name,
        formatMoney(amount, currency),
        currency,
        clock.now(),
      ],
    );
    const p = payment as PaymentRow;
    const result = await rail.chargeInvoice({
      reference: p.id,
      railCustomerId: customer.rail_customer_id,
      paymentMethodId: customer.payment_method_id,
      amount: p.amount,
      currency,
      description: 'Prepaid credits',
      idempotencyKey: p.idempotency_key,
      metadata: { paymentId: p.id, purpose: 'topup' },
    });
    await sqlRows(db, 'update billing_payments set rail_ref = $2 where id = $1', [p.id, result.railRef]);
    if (result.status === 'succeeded') await paymentSucceeded(p.id);
    else if (result.status === 'failed')
      await paymentFailed(p.id, result.failureCode ?? 'failed', result.failureMessage ?? '');
    const fresh = (await paymentById(p.id)) as PaymentRow;
    // Paid already (the webhook can beat the rail's answer): no link to follow.
    return { payment: fresh, paymentUrl: fresh.status === 'pending' ? (result.actionUrl ?? null) : null };
  }

  async function runDunning(
    now: Date = clock.now(),
  ): Promise<{ retried: number; overdue: number; suspended: number }> {
    const out = { retried: 0, overdue: 0, suspended: 0 };
    const result = await withLock(DUNNING_LOCK, async () => {
      const due = await sqlRows<{ id: string }>(
        db,
        `select id from billing_invoices where status = 'issued' and next_payment_attempt_at is not null and next_payment_attempt_at <= $1 order by next_payment_attempt_at`,
        [now],
      );
      for (const d of due) {
        await collect(d.id);
        out.retried++;
      }
      if (rail.collection === 'manual') {
        const overdue = await sqlRows<{ id: string; subscription_id: string | null; due_at: Date }>(
          db,
          `update billing_invoices set first_failed_at = due_at, last_payment_error = 'overdue: payment terms passed'
           where status = 'issued' and first_failed_at is null and due_at <= $1 and amount_due > 0
           returning id, subscription_id, due_at`,
          [now],
        );
        for (const o of overdue) {
          out.overdue++;
          if (!o.subscription_id) continue;
          const sub = await subscriptions.get(o.subscription_id);
          if (sub && (sub.status === 'active' || sub.status === 'trialing')) {
            await subscriptions.markPastDue(sub.id);
            await events.emit('subscription.past_due', {
              subscriptionId: sub.id,
              customerId: sub.customerId,
            });
          }
        }
      }
      const graceMs = config.billing.gracePeriodDays * DAY;
      const lapsed = await sqlRows<{ subscription_id: string }>(
        db,
        `select distinct subscription_id from billing_invoices
         where status = 'issued' and subscription_id is not null and first_failed_at is not null and first_failed_at <= $1`,
        [new Date(now.getTime() - graceMs)],
      );
      for (const l of lapsed) {
        const sub = await subscriptions.get(l.subscription_id);
        if (sub && sub.status === 'past_due') {
          await subscriptions.suspend(sub.id);
          await events.emit('subscription.suspended', { subscriptionId: sub.id, customerId: sub.customerId });
          await mailCustomer(
            sub.customerId,
            'Your API access is suspended',
            `Your subscription is suspended because an invoice is unpaid ${config.billing.gracePeriodDays} days after the first failed payment. Pay it to restore access at once: ${options.portalInvoicesUrl?.() ?? '/portal/invoices'}`,
          );
          out.suspended++;
        }
      }
      await credits.expireDue(now);
      return out;
    });
    await drainRail();
    return result ?? out;
  }

  return {
    rail,
    credits,
    get: load,
    mustGet: mustLoad,
    async list(filter: InvoiceFilter = {}): Promise<Invoice[]> {
      const rows = await listInvoiceRows(db, filter);
      const lines = await invoiceLines(
        db,
        rows.map((r) => r.id),
      );
      return rows.map((r) =>
        toInvoice(
          r,
          lines.filter((l) => l.invoice_id === r.id),
          minorUnits(r.currency),
        ),
      );
    },
    /** By id (`inv_…`) or number (`INV-000123`). */
    async find(idOrNumber: string): Promise<Invoice> {
      if (/^INV-\d+$/i.test(idOrNumber)) {
        const [row] = await sqlRows<{ id: string }>(db, 'select id from billing_invoices where number = $1', [
          idOrNumber.toUpperCase(),
        ]);
        if (!row) throw problems.notFound(`No invoice ${idOrNumber}.`);
        return mustLoad(row.id);
      }
      return mustLoad(idOrNumber);
    },
    rateSubscription,
    billSubscription,
    runBilling,
    runDunning,
    collect,
    markPaid,
    void: (id: string) => transition(id, 'void', ['draft', 'issued', 'uncollectible']),
    markUncollectible: (id: string) => transition(id, 'uncollectible', ['issued']),
    async issue(id: string): Promise<Invoice> {
      await store.transaction((tx) => issueIn(tx, id));
      return afterIssue(id);
    },
    /** A manual invoice (admin): lines given as amounts; created as a draft unless `issue`. */
    async createManualInvoice(input: {
      customerId: string;
      currency: string;
      lines: { description: string; quantity?: string; unitPrice: string }[];
      issue?: boolean;
    }): Promise<Invoice> {
      const now = clock.now();
      const lines: RatedLine[] = input.lines.map((l, i) => {
        const quantity = new Decimal(l.quantity ?? 1);
        return {
          key: `manual:${i}`,
          kind: 'flat',
          rateCardKey: 'manual',
          featureKey: null,
          planKey: 'manual',
          planVersion: 0,
          description: l.description,
          periodFrom: now,
          periodTo: now,
          timing: 'in_advance',
          quantity: quantity.toString(),
          unitPrice: new Decimal(l.unitPrice).toString(),
          amount: formatMoney(quantity.mul(l.unitPrice), input.currency),
        };
      });
      const created = (await createAndIssue({
        key: newId('manual'),
        customerId: input.customerId,
        subscriptionId: null,
        currency: input.currency,
        period: { from: now, to: now },
        lines,
        applyCredits: false,
        issue: input.issue === true,
      })) as Created;
      await afterCreated(created);
      return mustLoad(created.id);
    },
    /** Cost to date for the current period, plus a linear forecast to its end. */
    async upcoming(subscriptionId: string, asOf: Date = clock.now()): Promise<UpcomingInvoice> {
      const sub = await subscriptions.get(subscriptionId);
      if (!sub) throw problems.notFound(`No subscription ${subscriptionId}.`);
      const period = sub.currentPeriod;
      const upTo = asOf < period.to ? asOf : period.to;
      const { segments, lines } = await rateSubscription(sub, period, upTo);
      const already = await billedKeys(sub.id, period.from, `sub:${sub.id}:${period.from.toISOString()}`);
      const toDate = lines.filter((l) => !already.has(l.key));
      const elapsed = upTo.getTime() - period.from.getTime();
      const whole = period.to.getTime() - period.from.getTime();
      const factor = elapsed > 0 ? new Decimal(whole).div(elapsed) : new Decimal(1);
      // Forecast: usage in the last (current) segment grows linearly to the period end.
      const rated = [];
      for (const segment of segments) {
        const to = segment.to < upTo ? segment.to : upTo;
        const features = [
          ...new Set(
            segment.rateCards
              .filter((c) => c.feature && c.price && c.price.type !== 'flat')
              .map((c) => c.feature as string),
          ),
        ];
        const u =
          features.length > 0 && to > segment.from
            ? await usage.usage(sub.customerId, sub.id, features, segment.from, to)
            : {};
        const isLast = segment === segments[segments.length - 1];
        const scaled: Record<string, string> = {};
        for (const [k, v] of Object.entries(u))
          scaled[k] = isLast ? new Decimal(v).mul(factor).toDecimalPlaces(0).toString() : v;
        rated.push({ ...segment, usage: scaled });
      }
      const forecast = rate({ period, currency: sub.currency, segments: rated }).filter(
        (l) => !already.has(l.key),
      );
      const sum = (ls: RatedLine[]) => formatMoney(totals(ls, sub.currency).total, sub.currency);
      return {
        subscriptionId: sub.id,
        customerId: sub.customerId,
        currency: sub.currency,
        periodFrom: period.from.toISOString(),
        periodTo: period.to.toISOString(),
        asOf: upTo.toISOString(),
        costToDate: { lines: toDate, total: sum(toDate) },
        forecast: { lines: forecast, total: sum(forecast) },
      };
    },
    /** Saves a payment method in place (sandbox test card) and collects what is open. */
    async attachCard(customerId: string, card: string): Promise<{ label: string | null }> {
      const customer = await ensureRailCustomer(customerId);
      const result = await rail.checkout({
        customerId,
        railCustomerId: customer.rail_customer_id,
        mode: 'setup',
        currency: 'USD',
        description: 'Save a card',
        successUrl: '',
        cancelUrl: '',
        metadata: { customerId },
        card,
      });
      if (result.paymentMethodId)
        await savePaymentMethod(customerId, result.paymentMethodId, result.paymentMethodLabel ?? null);
      await afterPaymentMethod(customerId, {});
      return { label: result.paymentMethodLabel ?? null };
    },
    /**
     * Portal checkout. Sandbox (`card` given): saves the card, subscribes to `planKey` and charges
     * the first invoice now. Hosted rails (Stripe): returns the Checkout URL; the subscription
     * starts when the provider's `checkout.completed` webhook arrives.
     */
    async startCheckout(
      customerId: string,
      planKey: string | null,
      checkoutOptions: { card?: string; returnUrl?: string; cancelUrl?: string },
    ): Promise<{ url: string | null; invoice: Invoice | null; sessionId: string }> {
      if (planKey && !config.plans.some((p) => p.key === planKey)) {
        throw problems.badRequest(`No plan "${planKey}" in the configuration.`);
      }
      const customer = await ensureRailCustomer(customerId);
      const metadata: Record<string, string> = { customerId, ...(planKey ? { planKey } : {}) };
      const amount = planKey ? await firstCharge(customerId, planKey) : null;
      const result = await rail.checkout({
        customerId,
        railCustomerId: customer.rail_customer_id,
        // Rails that cannot save a card without a payment (Paddle) take the first charge here.
        mode: amount ? 'payment' : 'setup',
        ...(amount ? { amount } : {}),
        currency: config.plans.find((p) => p.key === planKey)?.currency ?? 'USD',
        description: planKey ? `Subscribe to ${planKey}` : 'Save a payment method',
        successUrl: checkoutOptions.returnUrl ?? '',
        cancelUrl: checkoutOptions.cancelUrl ?? checkoutOptions.returnUrl ?? '',
        metadata,
        card: checkoutOptions.card,
      });
      if (result.url) return { url: result.url, invoice: null, sessionId: result.sessionId };
      if (result.paymentMethodId)
        await savePaymentMethod(customerId, result.paymentMethodId, result.paymentMethodLabel ?? null);
      const invoice = await afterPaymentMethod(customerId, metadata);
      return { url: null, invoice, sessionId: result.sessionId };
    },
    topUp,
    autoRecharge,
    /**
     * Refunds (part of) a paid invoice through the rail that took the payment. Recorded as a
     * `refund` payment row with its own idempotency key; the invoice stays paid (a credit note
     * is out of scope), the event `invoice.refunded` tells accounting.
     */
    async refundInvoice(invoiceId: string, amount?: string): Promise<PaymentRow> {
      const invoice = await mustLoad(invoiceId);
      if (invoice.status !== 'paid')
        throw problems.conflict(
          `Invoice ${invoice.number ?? invoiceId} is ${invoice.status}; only paid invoices can be refunded.`,
        );
      const [paid] = await sqlRows<PaymentRow>(
        db,
        `select ${PAYMENT_COLUMNS} from billing_payments where invoice_id = $1 and purpose = 'invoice' and status = 'succeeded' order by created_at desc limit 1`,
        [invoiceId],
      );
      if (!paid)
        throw problems.conflict(
          'This invoice was paid by credits alone; grant credits instead of refunding.',
        );
      const [refunded] = await sqlRows<{ total: string | null }>(
        db,
        `select coalesce(sum(amount), 0)::text as total from billing_payments where invoice_id = $1 and purpose = 'refund' and status <> 'failed'`,
        [invoiceId],
      );
      const refundable = new Decimal(paid.amount).sub(refunded?.total ?? 0);
      const value = new Decimal(amount ?? refundable);
      if (!value.isFinite() || value.lte(0) || value.gt(refundable)) {
        throw problems.badRequest(
          `The refund must be more than 0 and at most ${formatMoney(refundable, invoice.currency)} ${invoice.currency}.`,
        );
      }
      const key = `refund:${paid.id}:${refunded?.total ?? '0'}:${value.toString()}`;
      const result =
        paid.rail_ref && paid.rail !== 'manual'
          ? await rail.refund({
              railRef: paid.rail_ref,
              amount: value.toFixed(minorUnits(invoice.currency)),
              currency: invoice.currency,
              idempotencyKey: key,
            })
          : { railRef: `manual_${paid.id}`, status: 'succeeded' as const };
      const [row] = await sqlRows<PaymentRow>(
        db,
        `insert into billing_payments (id, invoice_id, customer_id, idempotency_key, purpose, rail, status, amount, currency, rail_ref, created_at, updated_at)
         values ($1, $2, $3, $4, 'refund', $5, $6, $7, $8, $9, $10, $10)
         on conflict (idempotency_key) do update set updated_at = excluded.updated_at returning ${PAYMENT_COLUMNS}`,
        [
          newId('pay'),
          invoiceId,
          invoice.customerId,
          key,
          paid.rail,
          result.status,
          value.toFixed(minorUnits(invoice.currency)),
          invoice.currency,
          result.railRef,
          clock.now(),
        ],
      );
      await events.emit('invoice.refunded', {
        invoice: summary(invoice),
        amount: value.toFixed(minorUnits(invoice.currency)),
      });
      return row as PaymentRow;
    },
    async payments(invoiceId: string): Promise<PaymentRow[]> {
      return sqlRows<PaymentRow>(
        db,
        `select ${PAYMENT_COLUMNS} from billing_payments where invoice_id = $1 order by created_at`,
        [invoiceId],
      );
    },
    async handleWebhook(rawBody: string, headers: Headers): Promise<number> {
      const railEvents = await rail.handleWebhook(rawBody, headers);
      for (const e of railEvents) await handleRailEvent(e);
      return railEvents.length;
    },
    /**
     * `tollgate simulate`: re-rates the real usage of every billing period that started in
     * [monthFrom, monthTo) for subscriptions on `planKey`, under the plan as it is in the current
     * config (not yet published), and returns revenue before/after per customer. Changes nothing.
     */
    async simulate(planKey: string, monthFrom: Date, monthTo: Date): Promise<SimulationRow[]> {
      const plan = config.plans.find((p) => p.key === planKey);
      if (!plan)
        throw problems.badRequest(
          `No plan "${planKey}" in the current config (plans: ${config.plans.map((p) => p.key).join(', ')}).`,
        );
      const periods = await sqlRows<{ subscription_id: string; period_start: Date; period_end: Date }>(
        db,
        `select p.subscription_id, p.period_start, p.period_end from subscription_periods p
         join subscriptions s on s.id = p.subscription_id
         where s.plan_key = $1 and p.period_start >= $2 and p.period_start < $3 order by p.subscription_id, p.period_start`,
        [planKey, monthFrom, monthTo],
      );
      const phases = plan.phases ?? [{ key: 'default', trial: false, rateCards: plan.rateCards ?? [] }];
      const rows: SimulationRow[] = [];
      for (const p of periods) {
        const sub = await subscriptions.get(p.subscription_id);
        if (!sub) continue;
        const period = { from: new Date(p.period_start), to: new Date(p.period_end) };
        const before = await rateSubscription({ ...sub, currentPeriod: period }, period);
        const after = [];
        for (const segment of before.segments) {
          const phase = phases.find((ph) => ph.key === segment.phaseKey) ?? phases[phases.length - 1];
          const rateCards = phase?.rateCards ?? [];
          const features = [
            ...new Set(
              rateCards
                .filter((c) => c.feature && c.price && c.price.type !== 'flat')
                .map((c) => c.feature as string),
            ),
          ];
          const u =
            features.length > 0
              ? await usage.usage(sub.customerId, sub.id, features, segment.from, segment.to)
              : {};
          after.push({
            ...segment,
            planKey,
            planVersion: 0,
            trial: phase?.trial ?? false,
            rateCards,
            usage: u,
          });
        }
        const afterLines = rate({ period, currency: plan.currency, segments: after });
        const customer = await subscriptions.customer(sub.customerId);
        rows.push({
          customerId: sub.customerId,
          customerName: customer?.name ?? sub.customerId,
          subscriptionId: sub.id,
          periodFrom: period.from.toISOString(),
          periodTo: period.to.toISOString(),
          currency: plan.currency,
          before: formatMoney(totals(before.lines, sub.currency).subtotal, sub.currency),
          after: formatMoney(totals(afterLines, plan.currency).subtotal, plan.currency),
        });
      }
      return rows;
    },
    handleRailEvent,
    paymentMethod: (customerId: string) => railCustomer(db, customerId, rail.name),
  };
}
