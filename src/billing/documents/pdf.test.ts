import { describe, expect, it } from 'vitest';
import { invoice, line } from '../../../test/support/invoice-fixture.ts';
import { pdfText } from '../../../test/support/pdf-text.ts';
import { renderInvoicePdf } from './pdf.ts';

const ctx = { sellerName: 'Hello API', customerName: 'Analytical Engines' };

describe('invoice PDF', () => {
  it('shows a unit price as money beside the amount ("$19.00", not "19")', async () => {
    const text = pdfText(await renderInvoicePdf(invoice(), ctx));
    const row = text.indexOf('Pro subscription');
    expect(text.slice(row, row + 4)).toEqual(['Pro subscription', '1', '$19.00', '$19.00']);
    expect(text).not.toContain('19');
  });

  it('keeps the digits a small unit price needs', async () => {
    const usage = line({ description: 'API requests', quantity: '3', unitPrice: '0.0005', amount: '0.00' });
    const text = pdfText(await renderInvoicePdf(invoice({ lines: [usage] }), ctx));
    const row = text.indexOf('API requests');
    expect(text.slice(row, row + 4)).toEqual(['API requests', '3', '$0.0005', '$0.00']);
  });
});
