import type { ResolvedConfig } from '../config/index.ts';
import type { Store } from '../store/index.ts';
import type { Clock } from '../util/clock.ts';
import type { Logger } from '../util/log.ts';
import type { CreditsService } from './credits.ts';
import type { InvoiceDocumentFormat } from './documents/links.ts';
import type { EventSink, SubscriptionPort, UsagePort } from './model.ts';
import type { PaymentRail } from './rails/types.ts';

/**
 * What the billing service is built with. Its own file, below both the service and the parts'
 * shared deps (deps.ts), so that neither imports the other (Biome's noImportCycles).
 */
export interface BillingServiceOptions {
  store: Store;
  clock: Clock;
  log: Logger;
  config: ResolvedConfig;
  subscriptions: SubscriptionPort;
  usage: UsagePort;
  rail: PaymentRail;
  credits: CreditsService;
  /** Where billing writes its events; `noEvents` when built without notify. */
  events: EventSink;
  /** Dunning emails to the customer's billing address (payment failed, suspended). */
  mail?: { send(message: { to: string; subject: string; text: string }): Promise<void> };
  /** Absolute signed URL of an invoice's PDF or page, for the mails that carry it. */
  documentLink?: (invoiceId: string, format: InvoiceDocumentFormat) => string;
  /** Where customers update their card, for dunning emails (e.g. `https://api.example.com/portal/invoices`). */
  portalInvoicesUrl?: () => string;
  /** Overrides `billing.retryDays` (days after the first failure for each retry; default 1, 3, 5). */
  retryDays?: number[];
  /** Overrides the invoice rail's net payment terms (`billing.rail.netDays`, default 30). */
  netDays?: number;
}
