import type { ResolvedConfig } from '../config/index.ts';
import { runExclusive, type Store } from '../store/index.ts';
import type { Logger } from '../util/log.ts';
import type { DocumentMails } from './documents/mails.ts';
import type { Db, EventSink, SubscriptionPort } from './model.ts';
import type { BillingServiceOptions } from './options.ts';
import type { PaymentRail } from './rails/types.ts';

export const DAY = 86_400_000;

export type TaxRate = NonNullable<ResolvedConfig['billing']['taxRate']>;

/** Net payment terms of `billing.rail: { type: 'invoice', netDays }` (30 for `'invoice'`). */
export function invoiceRailNetDays(config: ResolvedConfig): number {
  const rail = config.billing.rail;
  return typeof rail === 'object' && rail.type === 'invoice' ? rail.netDays : 30;
}

/** Sends a customer a mail at their billing address; never fails. */
export type MailCustomer = (customerId: string, subject: string, text: string) => Promise<void>;

/** What the parts of the billing service work with; each part takes the fields it uses. */
export interface BillingDeps
  extends Pick<
    BillingServiceOptions,
    'store' | 'clock' | 'log' | 'config' | 'subscriptions' | 'usage' | 'rail' | 'credits'
  > {
  db: Db;
  events: EventSink;
  /**
   * Settings read where they are used, from the config in force, so a reload (`tollgate dev`)
   * reaches the next invoice: the tax rate, the days after the first failure for each retry,
   * and the net payment terms of the invoice rail.
   */
  taxRate(): TaxRate | null;
  retryDays(): readonly number[];
  netDays(): number;
  mailCustomer: MailCustomer;
  /** The invoice mail at issue and the receipt at payment. */
  documentMails: DocumentMails;
  /** Where customers update their card, for dunning emails. */
  portalInvoicesUrl: (() => string) | undefined;
}

/** Best effort: a mail that cannot be sent never fails billing. */
export function customerMailer(
  mail: { send(message: { to: string; subject: string; text: string }): Promise<void> } | undefined,
  subscriptions: SubscriptionPort,
  log: Logger,
): MailCustomer {
  return async function mailCustomer(customerId, subject, text) {
    if (!mail) return;
    try {
      const customer = await subscriptions.customer(customerId);
      if (customer?.email) await mail.send({ to: customer.email, subject, text });
    } catch (error) {
      log.warn({ err: error, customerId }, 'billing mail failed');
    }
  };
}

/** Leader-only on PostgreSQL (`pg_try_advisory_xact_lock` via runExclusive); null when another runner holds it. */
export async function withLock<T>(store: Store, name: string, fn: () => Promise<T>): Promise<T | null> {
  const result = await runExclusive(store, name, fn);
  return result.ran ? result.value : null;
}

/** Rails that confirm asynchronously in process (sandbox) deliver before a run returns. */
export async function drainRail(rail: PaymentRail): Promise<void> {
  const drain = (rail as Partial<{ drain(): Promise<void> }>).drain;
  if (typeof drain === 'function') await drain.call(rail);
}
