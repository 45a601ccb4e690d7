import PDFDocument from 'pdfkit';
import { Decimal } from '../../util/money.ts';
import type { Invoice } from '../model.ts';
import { displayDate, displayMoney, displayPeriod, displayUnitPrice } from './format.ts';

/**
 * An invoice as a PDF, drawn with pdfkit (no browser at run time): seller and customer, dates,
 * one row per line with its period, the totals, and what happened after issue (credit notes and
 * refunds; the invoice itself never changes once issued). Built-in Helvetica only, so the file
 * needs no font files and prints the same everywhere; text outside Windows-1252 (the standard
 * fonts' encoding) is replaced rather than drawn as garbage.
 */
export interface InvoiceDocumentContext {
  sellerName: string;
  customerName: string;
  customerEmail?: string | null;
  primaryColor?: string;
}

/** What changed an issued invoice's balance afterwards, shown under its totals. */
export interface InvoiceAdjustments {
  creditNotes: { number: string; issuedAt: string; reason: string; total: string; status: string }[];
  refunds: { createdAt: string; amount: string; status: string }[];
}

const PAGE_MARGIN = 50;
const GREY = '#6b7280';

/** Characters Helvetica (WinAnsi) cannot show, mapped to ones it can. */
function printable(text: string): string {
  return text
    .replace(/[\u2212\u2012\u2010]/g, '-')
    .replace(/\u2192/g, '->')
    .replace(/\u221e/g, 'unlimited')
    .replace(/[^\n\u0020-\u00ff€–—‘’“”•…™]/g, '?');
}

function statusLabel(invoice: Invoice): string {
  return invoice.status === 'issued' ? 'Open' : invoice.status[0]?.toUpperCase() + invoice.status.slice(1);
}

/** Where things go on the page and how amounts print: shared by every section drawn below. */
interface Layout {
  doc: InstanceType<typeof PDFDocument>;
  invoice: Invoice;
  color: string;
  left: number;
  width: number;
  col: { qty: number; unit: number; amount: number };
  m: (amount: string | Decimal) => string;
}

/** Header: seller, title, status. */
function drawHeader({ doc, invoice, color, left, width }: Layout, ctx: InvoiceDocumentContext): void {
  doc.fillColor(color).font('Helvetica-Bold').fontSize(22).text('Invoice', left, PAGE_MARGIN);
  doc
    .fillColor('#111111')
    .font('Helvetica')
    .fontSize(11)
    .text(printable(invoice.number ?? `Draft ${invoice.id}`));
  doc
    .font('Helvetica-Bold')
    .fontSize(12)
    .text(printable(ctx.sellerName), left, PAGE_MARGIN, { width, align: 'right' });
  doc.font('Helvetica').fontSize(10).fillColor(GREY).text(statusLabel(invoice), { width, align: 'right' });
  doc
    .moveTo(left, 110)
    .lineTo(left + width, 110)
    .lineWidth(2)
    .strokeColor(color)
    .stroke();
}

/** Billed to, and the dates. */
function drawParties({ doc, invoice, left, width }: Layout, ctx: InvoiceDocumentContext): void {
  doc.fillColor('#111111').font('Helvetica-Bold').fontSize(10).text('Billed to', left, 125);
  doc.font('Helvetica').text(printable(ctx.customerName));
  if (ctx.customerEmail) doc.text(printable(ctx.customerEmail));
  doc.fillColor(GREY).text(invoice.customerId);
  const dates = [
    `Period: ${displayPeriod(invoice.periodFrom, invoice.periodTo)}`,
    `Issued: ${displayDate(invoice.issuedAt)}`,
    `Due: ${displayDate(invoice.dueAt)}`,
    ...(invoice.paidAt ? [`Paid: ${displayDate(invoice.paidAt)}`] : []),
  ];
  doc.fillColor('#111111').text(dates.join('\n'), left, 125, { width, align: 'right' });
}

/** The column headings of the lines table at `top`; returns where the first row goes. */
function drawLinesHeader({ doc, left, width, col }: Layout, top: number): number {
  doc.font('Helvetica-Bold').fontSize(8).fillColor(GREY);
  doc.text('DESCRIPTION', left, top);
  doc.text('QUANTITY', col.qty, top, { width: col.unit - col.qty - 8, align: 'right' });
  doc.text('UNIT PRICE', col.unit, top, { width: col.amount - col.unit - 8, align: 'right' });
  doc.text('AMOUNT', col.amount, top, { width: left + width - col.amount, align: 'right' });
  return top + 16;
}

/** One row per invoice line with its period, starting a new page when near the bottom; returns y. */
function drawLines(layout: Layout): number {
  const { doc, invoice, left, width, col, m } = layout;
  let y = drawLinesHeader(layout, 210);
  for (const line of invoice.lines) {
    if (y > doc.page.height - PAGE_MARGIN - 140) {
      doc.addPage();
      y = drawLinesHeader(layout, PAGE_MARGIN);
    }
    doc.font('Helvetica').fontSize(10).fillColor('#111111');
    doc.text(printable(line.description), left, y, { width: col.qty - left - 8 });
    const afterDescription = doc.y;
    doc.text(line.quantity, col.qty, y, { width: col.unit - col.qty - 8, align: 'right' });
    const unitPrice =
      line.unitPrice == null ? '' : printable(displayUnitPrice(line.unitPrice, invoice.currency));
    doc.text(unitPrice, col.unit, y, { width: col.amount - col.unit - 8, align: 'right' });
    doc.text(m(line.amount), col.amount, y, { width: left + width - col.amount, align: 'right' });
    doc
      .fontSize(8)
      .fillColor(GREY)
      .text(displayPeriod(line.periodFrom, line.periodTo), left, afterDescription);
    y = doc.y + 6;
    doc
      .moveTo(left, y - 3)
      .lineTo(left + width, y - 3)
      .lineWidth(0.5)
      .strokeColor('#e5e7eb')
      .stroke();
  }
  if (invoice.lines.length === 0) {
    doc.font('Helvetica').fontSize(10).fillColor('#111111').text('No charges this period.', left, y);
    y = doc.y + 6;
  }
  return y;
}

/** Subtotal, tax, total, credits and amount due, right-aligned under the lines; returns y. */
function drawTotals({ doc, invoice, left, width, col, m }: Layout, top: number): number {
  let y = top;
  const totalRow = (label: string, value: string, bold = false) => {
    doc
      .font(bold ? 'Helvetica-Bold' : 'Helvetica')
      .fontSize(bold ? 12 : 10)
      .fillColor('#111111');
    doc.text(label, left, y, { width: col.amount - left - 8, align: 'right' });
    doc.text(value, col.amount, y, { width: left + width - col.amount, align: 'right' });
    y = doc.y + 4;
  };
  y += 6;
  totalRow('Subtotal', m(invoice.subtotal));
  if (invoice.taxRate) totalRow(`Tax (${new Decimal(invoice.taxRate).mul(100).toString()}%)`, m(invoice.tax));
  totalRow('Total', m(invoice.total));
  if (new Decimal(invoice.creditsApplied).gt(0)) totalRow('Credits applied', `-${m(invoice.creditsApplied)}`);
  totalRow('Amount due', m(invoice.status === 'paid' ? '0' : invoice.amountDue), true);
  return y;
}

/** Credit notes and refunds made after issue, if any; returns y. */
function drawAdjustments({ doc, left, m }: Layout, adjustments: InvoiceAdjustments, top: number): number {
  if (adjustments.creditNotes.length === 0 && adjustments.refunds.length === 0) return top;
  doc
    .font('Helvetica-Bold')
    .fontSize(11)
    .fillColor('#111111')
    .text('After issue', left, top + 14);
  doc.font('Helvetica').fontSize(10);
  for (const note of adjustments.creditNotes) {
    doc.text(
      printable(
        `Credit note ${note.number} (${displayDate(note.issuedAt)}, ${note.status}): -${m(note.total)} - ${note.reason}`,
      ),
    );
  }
  for (const refund of adjustments.refunds) {
    doc.text(`Refund (${displayDate(refund.createdAt)}, ${refund.status}): -${m(refund.amount)}`);
  }
  return doc.y;
}

export function renderInvoicePdf(
  invoice: Invoice,
  ctx: InvoiceDocumentContext,
  adjustments: InvoiceAdjustments = { creditNotes: [], refunds: [] },
): Promise<Uint8Array> {
  const doc = new PDFDocument({
    size: 'A4',
    margin: PAGE_MARGIN,
    info: {
      Title: `Invoice ${invoice.number ?? invoice.id}`,
      Author: ctx.sellerName,
      CreationDate: new Date(invoice.issuedAt ?? invoice.createdAt),
    },
  });
  const chunks: Buffer[] = [];
  doc.on('data', (chunk: Buffer) => chunks.push(chunk));
  const done = new Promise<Uint8Array>((resolve, reject) => {
    doc.on('end', () => resolve(new Uint8Array(Buffer.concat(chunks))));
    doc.on('error', reject);
  });
  const width = doc.page.width - PAGE_MARGIN * 2;
  const left = PAGE_MARGIN;
  const layout: Layout = {
    doc,
    invoice,
    color: ctx.primaryColor && /^#[0-9a-f]{6}$/i.test(ctx.primaryColor) ? ctx.primaryColor : '#4f46e5',
    left,
    width,
    col: { qty: left + width * 0.55, unit: left + width * 0.68, amount: left + width * 0.82 },
    m: (amount) => printable(displayMoney(amount, invoice.currency)),
  };

  drawHeader(layout, ctx);
  drawParties(layout, ctx);
  const y = drawAdjustments(layout, adjustments, drawTotals(layout, drawLines(layout)));

  doc
    .fontSize(8)
    .fillColor(GREY)
    .text(
      'Amounts are rounded once per line, half-up, to the currency\u2019s minor unit. An issued invoice is never changed: corrections are credit notes.',
      left,
      Math.max(y + 24, doc.page.height - PAGE_MARGIN - 30),
      { width },
    );
  doc.end();
  return done;
}
