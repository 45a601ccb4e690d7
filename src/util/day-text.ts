/**
 * Dates as people read them on every invoice, mail and portal page: "5 Dec 2026", in UTC (the
 * zone billing periods are cut in). ISO timestamps stay in the APIs and CSV exports.
 */
const DAY = new Intl.DateTimeFormat('en-GB', {
  day: 'numeric',
  month: 'short',
  year: 'numeric',
  timeZone: 'UTC',
});

export function dayText(value: string | Date | null | undefined): string {
  if (!value) return '—';
  return DAY.format(new Date(value));
}

/**
 * A billing period `[from, to)` as the first and last day it covers, the one rule for the PDF,
 * the printable page, the portal and the mails. `to` itself is not in the period, so the last
 * day is the day of the period's last instant: a month cut at midnight, 1 Jan – 1 Feb, reads
 * "1 Jan 2026 – 31 Jan 2026", and one cut at 10:00 on the 5th reads "5 Dec 2026 – 5 Jan 2027"
 * (it does cover the morning of 5 January).
 *
 * This is what invoices in the field show. Lago's PDF prints the period's days inclusively
 * (getlago/lago-api app/views/templates/invoices/v4/_subscription_details.slim, "fees_from_to_date"
 * from `to_datetime`, which app/services/subscriptions/dates/monthly_service.rb `compute_to_date`
 * puts on the day before the next anniversary). Stripe's invoice shows a line's `period.end`,
 * documented as inclusive (InvoiceLineItem.period, stripe-node types/InvoiceLineItems.d.ts), which
 * for a subscription is its renewal instant: the day of the last instant covered, as here.
 */
export function periodText(
  from: string | Date | null | undefined,
  to: string | Date | null | undefined,
): string {
  if (!from || !to) return '—';
  const start = new Date(from);
  const end = new Date(to);
  const last = end.getTime() > start.getTime() ? new Date(end.getTime() - 1) : end;
  return `${dayText(start)} – ${dayText(last)}`;
}
