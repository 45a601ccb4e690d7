import { createCheckout } from './checkout.ts';
import { createCreditNotes } from './credit-notes/service.ts';
import { type BillingDeps, customerMailer, invoiceRailNetDays } from './deps.ts';
import { createDiscounts } from './discounts/service.ts';
import { createInvoiceDocuments } from './documents/index.ts';
import { createDocumentMails } from './documents/mails.ts';
import { createDunning } from './dunning.ts';
import { createInvoices } from './invoices.ts';
import type { BillingServiceOptions } from './options.ts';
import { createPayments } from './payments.ts';
import { createPreview } from './preview.ts';
import { createRailCustomers } from './rail-customers.ts';
import { createBillingRun } from './run.ts';
import { createSimulation } from './simulate.ts';
import { createTopUps } from './topups.ts';

export type { BillingServiceOptions } from './options.ts';
export type { UpcomingInvoice } from './preview.ts';
export type { RunProgress, RunSummary } from './run.ts';
export type { SimulationRow } from './simulate.ts';

export const DEFAULT_RETRY_DAYS = [1, 3, 5];

export type BillingService = ReturnType<typeof createBillingService>;

/**
 * Invoices, the billing run, collection through the payment rail and dunning, assembled from
 * their parts (invoices, preview, run, payments, dunning, checkout, top-ups, rail customers).
 * No HTTP. Subscriptions and usage come in through ports.
 *
 * Idempotency: one invoice per subscription period (`sub:<id>:<periodFrom>` is a unique key);
 * every charge attempt has its own key (`inv:<id>:attempt:<n>`) passed to the rail, so a rerun
 * after a crash finds the invoice, resumes a charge that never reached the rail with the same
 * key, and never charges twice. Period roll-over happens last and is itself conditional.
 */
export function createBillingService(options: BillingServiceOptions) {
  const { store, clock, log, config, subscriptions, rail, credits } = options;
  const deps: BillingDeps = {
    store,
    db: store.db,
    clock,
    log,
    config,
    subscriptions,
    usage: options.usage,
    rail,
    credits,
    events: options.events,
    // `config` is the live view in a server (compose/modules.ts): these read the config in force.
    taxRate: () => config.billing.taxRate ?? null,
    retryDays: () => options.retryDays ?? config.billing.retryDays ?? DEFAULT_RETRY_DAYS,
    netDays: () => options.netDays ?? invoiceRailNetDays(config),
    mailCustomer: customerMailer(options.mail, subscriptions, log),
    documentMails: createDocumentMails({
      mail: options.mail,
      subscriptions,
      log,
      sellerName: () => config.portal.branding.name ?? config.name,
      documentLink: options.documentLink,
      portalInvoicesUrl: options.portalInvoicesUrl,
    }),
    portalInvoicesUrl: options.portalInvoicesUrl,
  };
  // Invoices, dunning and checkout call into payments and top-ups, which need them in turn and
  // are built after them: these functions look them up when called.
  const collect = (invoiceId: string) => payments.collect(invoiceId);

  const railCustomers = createRailCustomers(deps);
  const discounts = createDiscounts(deps);
  const preview = createPreview(deps, { discounts });
  const invoices = createInvoices(deps, {
    sendCharge: (invoice, payment) => payments.sendCharge(invoice, payment),
    collect,
    autoRecharge: (customerId, currency) => topUps.autoRecharge(customerId, currency),
  });
  const dunning = createDunning(deps, { invoices, collect });
  const checkout = createCheckout(deps, {
    invoices,
    railCustomers,
    collect,
    resumeCollection: (row) => payments.resumeCollection(row),
    discounts,
    withDiscounts: preview.withDiscounts,
  });
  const payments = createPayments(deps, { invoices, railCustomers, dunning, checkout });
  const topUps = createTopUps(deps, { railCustomers, payments });
  const run = createBillingRun(deps, { invoices, preview, payments, railCustomers });
  const creditNotes = createCreditNotes(deps, { invoices });
  const documents = createInvoiceDocuments({
    config: () => config,
    customer: (customerId) => subscriptions.customer(customerId),
    adjustments: (invoiceId) => creditNotes.adjustments(invoiceId),
  });

  return {
    rail,
    credits,
    get: invoices.load,
    mustGet: invoices.mustLoad,
    list: invoices.list,
    find: invoices.find,
    rateSubscription: preview.rateSubscription,
    billSubscription: run.billSubscription,
    runBilling: run.runBilling,
    runDunning: dunning.runDunning,
    collect: payments.collect,
    markPaid: invoices.markPaid,
    void: invoices.void,
    markUncollectible: invoices.markUncollectible,
    issue: invoices.issue,
    createManualInvoice: invoices.createManualInvoice,
    upcoming: preview.upcoming,
    attachCard: checkout.attachCard,
    startCheckout: checkout.startCheckout,
    quoteCheckout: checkout.quoteCheckout,
    topUp: topUps.topUp,
    autoRecharge: topUps.autoRecharge,
    creditNotes,
    discounts,
    /** An invoice's printable page and PDF (with its credit notes and refunds). */
    documents,
    /** Refunds (part of) a paid invoice through the rail that took the payment, as a credit note. */
    async refundInvoice(invoiceId: string, amount?: string) {
      const { creditNote, payment } = await creditNotes.refund(invoiceId, amount);
      return { ...payment, creditNote };
    },
    payments: payments.payments,
    handleWebhook: payments.handleWebhook,
    simulate: createSimulation(deps, { preview, discounts }),
    handleRailEvent: payments.handleRailEvent,
    paymentMethod: railCustomers.paymentMethod,
  };
}
