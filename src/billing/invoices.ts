import { newId } from '../util/ids.ts';
import { Decimal, formatMoney } from '../util/money.ts';
import type { BillingDeps } from './deps.ts';
import { createInvoiceIssuing } from './invoices/issue.ts';
import { type ChargeTarget, type Created, createdSummary, type InvoiceInput } from './invoices/model.ts';
import { createInvoiceReads } from './invoices/reads.ts';
import { createInvoiceStatements } from './invoices/statements.ts';
import { createInvoiceStatusChanges } from './invoices/status.ts';
import type { Invoice } from './model.ts';
import type { RatedLine } from './rating.ts';
import type { PaymentRow } from './repo.ts';

/**
 * Invoices, assembled from their parts: reading them (invoices/reads.ts), writing and issuing
 * them (invoices/issue.ts; the billing run's one-statement forms in invoices/statements.ts), and
 * their way out, paid, void or uncollectible (invoices/status.ts). Numbers come from the gapless
 * counter, taken in the issuing transaction or statement; every change is written with its event.
 */
export {
  type ChargeTarget,
  type Created,
  createdSummary,
  type InvoiceInput,
  PAID_RETURNING,
  type PaidRow,
  summary,
  totals,
} from './invoices/model.ts';

export type Invoices = ReturnType<typeof createInvoices>;

export function createInvoices(
  deps: Pick<
    BillingDeps,
    | 'store'
    | 'db'
    | 'clock'
    | 'rail'
    | 'credits'
    | 'events'
    | 'subscriptions'
    | 'taxRate'
    | 'netDays'
    | 'documentMails'
  >,
  /** Collection (payments, top-ups) needs invoices too, so it comes in as functions. */
  collection: {
    sendCharge(invoice: ChargeTarget, payment: PaymentRow): Promise<PaymentRow>;
    collect(invoiceId: string): Promise<PaymentRow | null>;
    autoRecharge(customerId: string, currency: string): Promise<boolean>;
  },
) {
  const { store, clock, rail, documentMails } = deps;
  const { sendCharge, collect, autoRecharge } = collection;

  /** Days until an issued invoice is due: net-N on the invoice rail, at once where the rail charges. */
  const termDays = (): number => (rail.collection === 'manual' ? deps.netDays() : 0);

  const reads = createInvoiceReads(deps.db);
  const issuing = createInvoiceIssuing(deps, { reads, termDays });
  const statements = createInvoiceStatements(deps, { termDays, enqueueIssued: issuing.enqueueIssued });
  const status = createInvoiceStatusChanges(deps, { reads });

  /**
   * Creates and (unless `issue: false`) issues an invoice, with its events, in one transaction
   * (one statement when no credits are drawn). Idempotent by `key`: null when it exists.
   */
  async function createAndIssue(input: InvoiceInput): Promise<Created | null> {
    const now = clock.now();
    if (input.issue !== false && !input.applyCredits) {
      return statements.createAndIssueInOneStatement(input, now);
    }
    return issuing.createInTransaction(input, now);
  }

  /** The mail and the first charge after `createAndIssue` (its events were written with it). */
  async function afterCreated(created: Created): Promise<void> {
    if (created.status === 'draft') return;
    const { payment, creditsApplied } = created;
    const mail = () =>
      documentMails.invoiceIssued(
        { ...createdSummary(created), creditsApplied, dueAt: null },
        payment !== null,
      );
    if (created.status !== 'paid' && payment && rail.paysByLink) {
      // Charged first: a charge that became a pay link was mailed with it (dunning), one mail.
      await sendCharge(created, payment);
      if (!(await reads.mustLoad(created.id)).paymentUrl) await mail();
    } else {
      await mail();
      if (created.status !== 'paid' && payment) await sendCharge(created, payment);
    }
    if (new Decimal(creditsApplied).gt(0)) await autoRecharge(created.customerId, created.currency);
  }

  /** The mail and the first charge after `issueIn` committed. */
  async function afterIssue(id: string): Promise<Invoice> {
    const invoice = await reads.mustLoad(id);
    await documentMails.invoiceIssued(
      invoice,
      invoice.status === 'issued' && rail.collection === 'automatic',
    );
    if (invoice.status !== 'paid' && rail.collection === 'automatic') await collect(id);
    return reads.mustLoad(id);
  }

  /** A manual invoice (admin): lines given as amounts; created as a draft unless `issue`. */
  async function createManualInvoice(input: {
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
    const created = await createAndIssue({
      key: newId('manual'),
      customerId: input.customerId,
      subscriptionId: null,
      currency: input.currency,
      period: { from: now, to: now },
      lines,
      applyCredits: false,
      issue: input.issue === true,
    });
    // A fresh key: an existing invoice with it would be a bug, not a retry.
    if (!created) throw new Error('a manual invoice key was already used');
    await afterCreated(created);
    return reads.mustLoad(created.id);
  }

  return {
    ...reads,
    createAndIssue,
    createAndIssueMany: statements.createAndIssueMany,
    afterCreated,
    issueIn: issuing.issueIn,
    afterIssue,
    ...status,
    async issue(id: string): Promise<Invoice> {
      await store.transaction((tx) => issuing.issueIn(tx, id));
      return afterIssue(id);
    },
    createManualInvoice,
  };
}
