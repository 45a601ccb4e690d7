import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tollgate } from '../../src/app.ts';
import { displayDate } from '../../src/billing/documents/index.ts';
import { PortalClient } from '../portal/client.ts';
import { testCatalog } from '../support/catalog.ts';
import { pdfText } from '../support/pdf-text.ts';
import { startTestTollgate } from '../support/tollgate.ts';

/**
 * Invoice documents end to end: the invoice mail at issue with signed links to its PDF and page,
 * the receipt when the sandbox confirms the payment, the PDF (pdfkit, read back as text) over
 * real HTTP through the mailed link and through the portal session, and a credit note showing on
 * the portal's invoice and in the PDF.
 */
let tollgate: Tollgate;
let owner: PortalClient;
let stranger: PortalClient;
let customerId: string;
let invoiceId: string;
let invoiceNumber: string;

async function mails(to: string): Promise<{ subject: string; text: string }[]> {
  return tollgate.runtime.store.query<{ subject: string; text: string }>(
    'select subject, text_body as text from notify_mailbox where lower(to_address) = lower($1) order by created_at',
    [to],
  );
}

/** Polls until `check` returns a value (ceiling 30 s: the machine may be busy). */
async function eventually<T>(check: () => Promise<T | undefined>): Promise<T> {
  const end = Date.now() + 30_000;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > end) throw new Error('condition not reached within 30 s');
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function fetchBytes(url: string, headers: Record<string, string> = {}) {
  const res = await request(url, { headers });
  return { status: res.statusCode, headers: res.headers, body: new Uint8Array(await res.body.arrayBuffer()) };
}

beforeAll(async () => {
  tollgate = await startTestTollgate(
    testCatalog({
      billing: { rail: 'sandbox', taxRate: '0.20' },
      portal: { branding: { name: 'Acme API' } },
    }),
    'documents',
  );
  owner = new PortalClient(tollgate.consoleApp, '10.1.0.1');
  stranger = new PortalClient(tollgate.consoleApp, '10.1.0.2');
  customerId = (await owner.signup('ada@docs.test', 'Lovelace Labs')).customerId;
  await stranger.signup('eve@docs.test', 'Eve Inc');
  await tollgate.billing.attachCard(customerId, '4242 4242 4242 4242');
  const res = await request(`${tollgate.consoleUrl}/api/admin/invoices`, {
    method: 'POST',
    headers: { authorization: `Bearer ${tollgate.runtime.adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      customerId,
      currency: 'USD',
      lines: [{ description: 'Analytical engine time', quantity: '4', unitPrice: '25.00' }],
      issue: true,
    }),
  });
  expect(res.statusCode).toBe(201);
  const invoice = (await res.body.json()) as { id: string; number: string };
  invoiceId = invoice.id;
  invoiceNumber = invoice.number;
}, 180_000);

afterAll(async () => {
  await tollgate?.stop();
});

describe('invoice documents and receipts', () => {
  it('mails the invoice at issue with a signed link to its PDF, which opens without a login', async () => {
    const mail = await eventually(async () =>
      (await mails('ada@docs.test')).find((m) => m.subject.startsWith(`Invoice ${invoiceNumber}`)),
    );
    expect(mail.subject).toBe(`Invoice ${invoiceNumber} from Acme API: $120.00`);
    expect(mail.text).toContain('$120.00');
    expect(mail.text).not.toContain(tollgate.runtime.adminToken);
    const link = /Download the PDF: (\S+)/.exec(mail.text)?.[1];
    expect(link).toMatch(new RegExp(`/invoices/${invoiceId}\\.pdf\\?expires=\\d+&signature=`));
    const file = await fetchBytes(link as string);
    expect(file.status).toBe(200);
    expect(file.headers['content-type']).toBe('application/pdf');
    const text = pdfText(file.body);
    expect(text).toEqual(
      expect.arrayContaining([
        'Invoice',
        invoiceNumber,
        'Acme API',
        'Lovelace Labs',
        'Analytical engine time',
        '4',
        '$100.00',
        'Tax (20%)',
        '$20.00',
        '$120.00',
      ]),
    );
    const issued = await tollgate.billing.mustGet(invoiceId);
    expect(text).toContain(`Issued: ${displayDate(issued.issuedAt)}`);
    expect(displayDate(issued.issuedAt)).toMatch(/^\d{1,2} [A-Z][a-z]+ \d{4}$/);
  });

  it('mails a receipt when the payment succeeds', async () => {
    const receipt = await eventually(async () =>
      (await mails('ada@docs.test')).find((m) =>
        m.subject.startsWith(`Receipt for invoice ${invoiceNumber}`),
      ),
    );
    expect(receipt.subject).toBe(`Receipt for invoice ${invoiceNumber}: $120.00 paid`);
    expect(receipt.text).toMatch(/we received \$120\.00 for invoice INV-\d+ on \d{1,2} [A-Z][a-z]+ \d{4}/);
    expect((await tollgate.billing.mustGet(invoiceId)).status).toBe('paid');
  });

  it('lets the portal download the PDF for its own invoices only', async () => {
    const mine = await owner.get(`/api/portal/invoices/${invoiceId}/pdf`);
    expect(mine.status).toBe(200);
    expect(mine.headers.get('content-type')).toBe('application/pdf');
    expect(mine.headers.get('content-disposition')).toBe(`attachment; filename="${invoiceNumber}.pdf"`);
    expect(mine.headers.get('cache-control')).toBe('private, no-store');
    expect((await stranger.get(`/api/portal/invoices/${invoiceId}/pdf`)).status).toBe(404);
    // The portal's own invoice page (a client-side route) is the SPA's, not a document route's.
    const page = await fetchBytes(`${tollgate.consoleUrl}/invoices/${invoiceId}`);
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toContain('text/html');
    expect(
      (await new PortalClient(tollgate.consoleApp, '10.1.0.3').get(`/api/portal/invoices/${invoiceId}/pdf`))
        .status,
    ).toBe(401);
  });

  it('shows the payment, a later credit note and its refund on the portal invoice and in the PDF', async () => {
    const note = await tollgate.billing.creditNotes.issue(invoiceId, {
      reason: 'usage_correction',
      lines: [{ invoiceLine: 1, amount: '25.00' }],
    });
    const detail = await owner.get(`/api/portal/invoices/${invoiceId}`);
    expect(detail.status).toBe(200);
    expect(detail.json.invoice.total).toBe('120.00');
    expect(detail.json.invoice.creditNotes).toEqual([
      expect.objectContaining({
        number: note.number,
        total: '30.00',
        refundAmount: '30.00',
        reason: 'usage_correction',
      }),
    ]);
    expect(
      detail.json.invoice.payments.map((p: { kind: string; status: string; amount: string }) => [
        p.kind,
        p.status,
        p.amount,
      ]),
    ).toEqual([
      ['payment', 'succeeded', '120.00'],
      ['refund', 'succeeded', '30.00'],
    ]);
    const pdf = await fetchBytes(`${tollgate.consoleUrl}/invoices/${invoiceId}.pdf`, {
      authorization: `Bearer ${tollgate.runtime.adminToken}`,
    });
    const lines = pdfText(pdf.body);
    expect(
      lines.some((line) => line.startsWith(`Credit note ${note.number}`) && line.includes('-$30.00')),
    ).toBe(true);
    expect(lines).toContain('$120.00');
  });
});
