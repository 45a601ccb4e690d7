import { Decimal } from 'decimal.js';
import { dayText, periodText } from '../util/day-text.ts';
import { formatMoney, minorUnits } from '../util/money.ts';
import type { Invoice } from './model.ts';

/**
 * The invoice as one self-contained HTML page that prints well (A4/Letter, no external assets).
 * The console serves it at `/invoices/<id>.html`; the portal calls `renderInvoiceHtml` for its
 * own customers.
 */
const esc = (s: unknown) =>
  String(s ?? '').replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string,
  );

/** Dates for people, periods by the one rule of every document (`periodText`). */
const day = dayText;

/**
 * A unit price (or a tier's exact, unrounded amount) beside amounts: at least the currency's
 * minor digits ("29.00", not "29"), more when the value has them ("0.0005").
 */
function unitPriceText(value: string, currency: string): string {
  const price = new Decimal(value);
  const digits = Math.max(minorUnits(currency), price.decimalPlaces());
  return `${price.toFixed(digits)} ${currency}`;
}

export interface InvoicePageContext {
  sellerName: string;
  customerName: string;
  customerEmail?: string | null;
  primaryColor?: string;
}

export function renderInvoiceHtml(invoice: Invoice, ctx: InvoicePageContext): string {
  const color = ctx.primaryColor ?? '#4f46e5';
  const m = (v: string) => `${esc(formatMoney(v, invoice.currency))} ${esc(invoice.currency)}`;
  const price = (v: string) => esc(unitPriceText(v, invoice.currency));
  const rows = invoice.lines
    .map((l) => {
      const tiers = (l.tiers ?? [])
        .filter((t) => t.quantity !== '0')
        .map(
          (t) =>
            `<tr class="tier"><td>↳ Tier ${t.tier}: units ${esc(t.fromUnit === '0' ? '1' : String(Number(t.fromUnit) + 1))}–${esc(t.upTo ?? '∞')}</td><td class="num">${esc(t.quantity)}</td><td class="num">${price(t.unitPrice)}${new Decimal(t.flatPrice).isZero() ? '' : ` + ${price(t.flatPrice)}`}</td><td class="num">${price(t.amount)}</td></tr>`,
        )
        .join('');
      return `<tr><td>${esc(l.description)}<div class="period">${periodText(l.periodFrom, l.periodTo)}</div></td><td class="num">${esc(l.quantity)}</td><td class="num">${l.unitPrice == null ? '' : price(l.unitPrice)}</td><td class="num">${m(l.amount)}</td></tr>${tiers}`;
    })
    .join('\n');
  const title = invoice.number ?? `Draft ${invoice.id}`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Invoice ${esc(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
  @page { size: auto; margin: 18mm; }
  * { box-sizing: border-box; }
  body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #111; margin: 0; padding: 32px; max-width: 860px; margin-inline: auto; }
  header { display: flex; justify-content: space-between; border-bottom: 3px solid ${esc(color)}; padding-bottom: 12px; margin-bottom: 24px; }
  h1 { margin: 0; font-size: 26px; color: ${esc(color)}; }
  .status { display: inline-block; padding: 2px 10px; border-radius: 999px; border: 1px solid currentColor; font-size: 12px; text-transform: uppercase; letter-spacing: .05em; }
  .status.paid { color: #15803d; } .status.issued { color: #b45309; } .status.void, .status.uncollectible { color: #6b7280; }
  .meta { display: grid; grid-template-columns: 1fr 1fr; gap: 16px; margin-bottom: 24px; }
  table { width: 100%; border-collapse: collapse; }
  th, td { text-align: left; padding: 6px 8px; border-bottom: 1px solid #e5e7eb; vertical-align: top; }
  th { font-size: 12px; text-transform: uppercase; color: #6b7280; }
  .num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
  tr.tier td { color: #6b7280; font-size: 12px; border-bottom: none; padding-top: 0; }
  .period { color: #6b7280; font-size: 12px; }
  tfoot td { border: none; }
  tfoot tr.total td { font-weight: 700; font-size: 16px; border-top: 2px solid #111; }
  footer { margin-top: 32px; color: #6b7280; font-size: 12px; }
  .dates { text-align: right; }
  .lines { overflow-x: auto; }
  /* A phone (390 px) shows all four columns: less padding, dates under the customer. */
  @media (max-width: 600px) {
    body { padding: 16px; font-size: 13px; }
    .meta { grid-template-columns: 1fr; }
    .dates { text-align: left; }
    th, td { padding: 6px 4px; }
    th { font-size: 11px; }
  }
  @media print { body { padding: 0; } .noprint { display: none; } tr { break-inside: avoid; } }
</style></head>
<body>
<header><div><h1>Invoice</h1><div>${esc(title)}</div></div>
<div style="text-align:right"><strong>${esc(ctx.sellerName)}</strong><br><span class="status ${esc(invoice.status)}">${esc(invoice.status)}</span></div></header>
<section class="meta">
  <div><strong>Billed to</strong><br>${esc(ctx.customerName)}${ctx.customerEmail ? `<br>${esc(ctx.customerEmail)}` : ''}<br><small>${esc(invoice.customerId)}</small></div>
  <div class="dates">
    Period: ${periodText(invoice.periodFrom, invoice.periodTo)}<br>
    Issued: ${day(invoice.issuedAt)}<br>
    Due: ${day(invoice.dueAt)}${invoice.paidAt ? `<br>Paid: ${day(invoice.paidAt)}` : ''}
  </div>
</section>
<div class="lines"><table>
  <thead><tr><th>Description</th><th class="num">Quantity</th><th class="num">Unit price</th><th class="num">Amount</th></tr></thead>
  <tbody>
${rows || '<tr><td colspan="4">No charges this period.</td></tr>'}
  </tbody>
  <tfoot>
    <tr><td colspan="3" class="num">Subtotal</td><td class="num">${m(invoice.subtotal)}</td></tr>
    ${invoice.taxRate ? `<tr><td colspan="3" class="num">Tax (${esc(new Decimal(invoice.taxRate).times(100).toString())}%)</td><td class="num">${m(invoice.tax)}</td></tr>` : ''}
    <tr><td colspan="3" class="num">Total</td><td class="num">${m(invoice.total)}</td></tr>
    ${invoice.creditsApplied !== formatMoney(0, invoice.currency) ? `<tr><td colspan="3" class="num">Credits applied</td><td class="num">−${m(invoice.creditsApplied)}</td></tr>` : ''}
    <tr class="total"><td colspan="3" class="num">Amount due</td><td class="num">${m(invoice.status === 'paid' ? '0' : invoice.amountDue)}</td></tr>
  </tfoot>
</table></div>
<footer>Amounts are rounded once per line, half-up, to the currency's minor unit. <span class="noprint"><a href="javascript:print()">Print</a></span></footer>
</body></html>`;
}
