import { describe, expect, it } from 'vitest';
import { invoice, line } from '../../test/support/invoice-fixture.ts';
import { renderInvoiceHtml } from './html.ts';

const ctx = { sellerName: 'Hello API', customerName: 'Analytical Engines' };

describe('printable invoice (issue 16: "19" beside "19.00 USD", ISO dates)', () => {
  it('shows a unit price as money beside the amount, and dates for people', () => {
    const html = renderInvoiceHtml(invoice(), ctx);
    expect(html).toContain(
      '<td class="num">1</td><td class="num">19.00 USD</td><td class="num">19.00 USD</td>',
    );
    // [5 Dec, 5 Jan) at midnight covers 5 Dec to 4 Jan (src/util/day-text.ts: one rule for every document).
    expect(html).toContain('Period: 5 Dec 2026 – 4 Jan 2027');
    expect(html).toContain('Paid: 5 Dec 2026');
    expect(html).not.toMatch(/\d{4}-\d{2}-\d{2}/);
  });

  it('writes tier prices and amounts as money too, with the digits a small price needs', () => {
    const usage = line({
      key: 'requests',
      kind: 'usage',
      description: 'API requests',
      quantity: '100003',
      unitPrice: null,
      amount: '0.0015',
      tiers: [
        {
          tier: 1,
          fromUnit: '0',
          upTo: '100000',
          quantity: '100000',
          unitPrice: '0',
          flatPrice: '0',
          amount: '0',
        },
        {
          tier: 2,
          fromUnit: '100000',
          upTo: null,
          quantity: '3',
          unitPrice: '0.0005',
          flatPrice: '2',
          amount: '2.0015',
        },
      ],
    });
    const html = renderInvoiceHtml(invoice({ lines: [usage] }), ctx);
    expect(html).toContain(
      '<td class="num">100000</td><td class="num">0.00 USD</td><td class="num">0.00 USD</td>',
    );
    expect(html).toContain(
      '<td class="num">3</td><td class="num">0.0005 USD + 2.00 USD</td><td class="num">2.0015 USD</td>',
    );
  });

  it('states a tax rate as the percentage it is, not a float product', () => {
    // 0.07 × 100 in binary floating point is 7.000000000000001.
    const html = renderInvoiceHtml(invoice({ taxRate: '0.07', tax: '1.33', total: '20.33' }), ctx);
    expect(html).toContain('Tax (7%)');
  });
});
