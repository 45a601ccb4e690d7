import { describe, expect, it } from 'vitest';
import { invoice, line } from '../../../test/support/invoice-fixture.ts';
import { pdfText } from '../../../test/support/pdf-text.ts';
import { silentLogger } from '../../util/log.ts';
import { renderInvoiceHtml } from '../html.ts';
import { createDocumentMails } from './mails.ts';
import { renderInvoicePdf } from './pdf.ts';

const ctx = { sellerName: 'Hello API', customerName: 'Analytical Engines' };

/** The period as each document a customer gets states it: PDF, printable page, invoice and receipt mails. */
async function periodsShown(from: string, to: string): Promise<string[]> {
  const inv = invoice({ periodFrom: from, periodTo: to, lines: [line({ periodFrom: from, periodTo: to })] });
  const sent: string[] = [];
  const mails = createDocumentMails({
    mail: { send: async (m) => void sent.push(m.text) },
    subscriptions: { customer: async (id) => ({ id, name: 'Ada', email: 'ada@engines.test' }) },
    log: silentLogger,
    sellerName: () => 'Hello API',
  });
  await mails.invoiceIssued(inv, true);
  await mails.paymentReceipt(inv, new Date('2026-12-05T10:00:01Z'));
  const pdf = pdfText(await renderInvoicePdf(inv, ctx));
  const html = renderInvoiceHtml(inv, ctx);
  return [
    /Period: (.+)/.exec(pdf.find((t) => t.startsWith('Period: ')) ?? '')?.[1] ?? 'no period in the PDF',
    /Period: ([^<]+)<br>/.exec(html)?.[1]?.trim() ?? 'no period on the page',
    /for (.+) is ready/.exec(sent[0] ?? '')?.[1] ?? 'no period in the invoice mail',
    /Period: ([^.]+)\./.exec(sent[1] ?? '')?.[1] ?? 'no period in the receipt',
  ];
}

describe('one period text on every invoice document', () => {
  it('a month cut at midnight ends on its last day, the next month’s first day being outside it', async () => {
    const shown = await periodsShown('2026-12-05T00:00:00.000Z', '2027-01-05T00:00:00.000Z');
    expect(shown).toEqual(Array(4).fill('5 Dec 2026 – 4 Jan 2027'));
  });

  it('a month cut at 10:00 ends on the day of its renewal, whose morning it covers', async () => {
    const shown = await periodsShown('2026-12-05T10:00:00.000Z', '2027-01-05T10:00:00.000Z');
    expect(shown).toEqual(Array(4).fill('5 Dec 2026 – 5 Jan 2027'));
  });

  it('a line shows its own period by the same rule on the PDF and the page', async () => {
    const inv = invoice();
    const pdf = pdfText(await renderInvoicePdf(inv, ctx));
    expect(pdf).toContain('5 Dec 2026 – 4 Jan 2027');
    expect(renderInvoiceHtml(inv, ctx)).toContain('<div class="period">5 Dec 2026 – 4 Jan 2027</div>');
  });
});
