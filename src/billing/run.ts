import { sql } from 'kysely';
import { ProblemError } from '../http/problem.ts';
import { type BillingDeps, drainRail, withLock } from './deps.ts';
import type { Created, InvoiceInput, Invoices } from './invoices.ts';
import type { BillingSubscription } from './model.ts';
import type { Payments } from './payments.ts';
import type { Preview } from './preview.ts';
import type { RailCustomers } from './rail-customers.ts';
import { invoiceRowByKey } from './repo.ts';
import { billingDb } from './tables.ts';

/**
 * The billing run: every ended period without an invoice is invoiced (one invoice per
 * subscription period, idempotent by its key) and charged, and the subscription rolled over.
 */
const BILLING_LOCK = 'billing-run';
/** Invoices the billing run creates per statement. */
const INVOICE_GROUP = 100;
/** Tables a billing run grows and reads back (foreign-key targets, duplicate checks, due periods). */
const ANALYZE_BILLING = 'analyze billing_invoices, billing_payments, subscription_periods';

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

export function createBillingRun(
  deps: Pick<BillingDeps, 'store' | 'db' | 'clock' | 'log' | 'rail' | 'subscriptions'>,
  parts: {
    invoices: Pick<Invoices, 'createAndIssue' | 'createAndIssueMany' | 'afterCreated'>;
    preview: Pick<Preview, 'rateSubscription' | 'billedKeys' | 'withDiscounts'>;
    payments: Pick<Payments, 'resumeCollection' | 'sendCharge'>;
    railCustomers: Pick<RailCustomers, 'prefetchRailCustomers' | 'clearPrefetched'>;
  },
) {
  const { store, db, clock, log, rail, subscriptions } = deps;
  const { createAndIssue, createAndIssueMany, afterCreated } = parts.invoices;
  const { rateSubscription, billedKeys, withDiscounts } = parts.preview;
  const { resumeCollection, sendCharge } = parts.payments;
  const { prefetchRailCustomers, clearPrefetched } = parts.railCustomers;

  /** What the run invoices for a subscription's current period: rated lines minus lines billed earlier. */
  async function periodInvoice(sub: BillingSubscription): Promise<InvoiceInput> {
    const period = sub.currentPeriod;
    const key = `sub:${sub.id}:${period.from.toISOString()}`;
    const { lines } = await rateSubscription(sub, period);
    const already =
      sub.hints && !sub.hints.hasPriorInvoice
        ? new Set<string>()
        : await billedKeys(sub.id, period.from, key);
    const billed = already.size > 0 ? lines.filter((l) => !already.has(l.key)) : lines;
    return {
      key,
      customerId: sub.customerId,
      subscriptionId: sub.id,
      currency: sub.currency,
      period,
      lines: await withDiscounts(sub, period, billed),
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
   * Crash recovery: a charge attempt recorded with its invoice but never answered by the rail
   * (the process died, or the rail call failed in transit) is sent again with the same
   * idempotency key, so the rail either performs it now or returns the one it already made.
   */
  async function resumeInterruptedCharges(): Promise<number> {
    const rows = await billingDb(db)
      .selectFrom('billing_payments as p')
      .innerJoin('billing_invoices as i', 'i.id', 'p.invoice_id')
      .select([
        'p.id',
        'p.invoice_id',
        'p.customer_id',
        'p.idempotency_key',
        'p.purpose',
        'p.rail',
        'p.status',
        sql<string>`cast(p.amount as text)`.as('amount'),
        'p.currency',
        'p.rail_ref',
        'p.failure_code',
        'p.failure_message',
        'p.created_at',
        'i.id as invoice',
        'i.number',
      ])
      .where('p.status', '=', 'pending')
      .where('p.rail_ref', 'is', null)
      .where('i.status', '=', 'issued')
      .where('p.purpose', '=', 'invoice')
      .execute();
    for (const { invoice, number, ...payment } of rows) {
      await sendCharge(
        { id: invoice, customerId: payment.customer_id, number, currency: payment.currency },
        payment,
      );
    }
    return rows.length;
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
    const result = await withLock(store, BILLING_LOCK, async () => {
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
          for (let i = 0; i < batch.length; i += INVOICE_GROUP) {
            const group = batch.slice(i, i + INVOICE_GROUP);
            await billGroup(group, concurrency, billOne);
            afterId = group[group.length - 1]?.id ?? afterId;
          }
        }
        if (billedInPass === 0) break;
      }
      return summaryOut;
    });
    clearPrefetched();
    await drainRail(rail);
    if (result === null) return { ...summaryOut, locked: true };
    return result;
  }

  /**
   * Rates a group (several subscriptions at once on PostgreSQL), creates its invoices in one
   * statement, then charges each (again several at once). Each one's work is keyed, so the order
   * within a group does not matter; invoice numbers follow the subscription order.
   */
  async function billGroup(
    group: BillingSubscription[],
    concurrency: number,
    billOne: (sub: BillingSubscription, made?: { created: Created | null }) => Promise<void>,
  ): Promise<void> {
    const inputs = new Map<string, InvoiceInput>();
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

  return { billSubscription, runBilling };
}
