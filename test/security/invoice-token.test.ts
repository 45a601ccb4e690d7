import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tollgate } from '../../src/app.ts';
import { createInvoiceLinks } from '../../src/billing/documents/index.ts';
import { testCatalog } from '../support/catalog.ts';
import { startTestTollgate } from '../support/tollgate.ts';

/**
 * Issue 12, row 10: `GET /invoices/<id>.html?token=<admin token>` was accepted, so the admin token
 * ended up in access logs, browser history and Referer headers. Now the token is accepted only in
 * the Authorization header, and a customer opens an invoice through the portal session or a signed
 * link bound to that invoice, its format and an expiry. Replayed over real HTTP.
 */
let tollgate: Tollgate;
let invoiceId: string;
let otherInvoiceId: string;

async function get(path: string, headers: Record<string, string> = {}) {
  const res = await request(`${tollgate.consoleUrl}${path}`, { headers });
  const body = Buffer.from(await res.body.arrayBuffer());
  return { status: res.statusCode, headers: res.headers, body };
}

async function admin(method: 'POST', path: string, body?: unknown) {
  const res = await request(`${tollgate.consoleUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${tollgate.runtime.adminToken}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.statusCode, json: (await res.body.json()) as Record<string, unknown> };
}

async function manualInvoice(customerId: string): Promise<string> {
  const created = await admin('POST', '/api/admin/invoices', {
    customerId,
    currency: 'USD',
    lines: [{ description: 'Consulting', unitPrice: '120.00' }],
    issue: true,
  });
  expect(created.status, JSON.stringify(created.json)).toBe(201);
  return created.json.id as string;
}

beforeAll(async () => {
  tollgate = await startTestTollgate(testCatalog({ billing: { rail: 'invoice' } }), 'invoice-token');
  const a = await tollgate.customers.create({ name: 'Alpha', email: 'alpha@example.com' });
  const b = await tollgate.customers.create({ name: 'Beta', email: 'beta@example.com' });
  invoiceId = await manualInvoice(a.id);
  otherInvoiceId = await manualInvoice(b.id);
}, 180_000);

afterAll(async () => {
  await tollgate?.stop();
});

describe('invoice documents: the admin token never travels in a URL', () => {
  it('refuses the admin token in the query string, even when it is right', async () => {
    const res = await get(
      `/invoices/${invoiceId}.html?token=${encodeURIComponent(tollgate.runtime.adminToken)}`,
    );
    expect(res.status).toBe(401);
    expect(res.headers['content-type']).toBe('application/problem+json');
    const problem = JSON.parse(res.body.toString('utf8')) as { detail: string };
    expect(problem.detail).toMatch(/Authorization header/);
    expect(res.body.toString('utf8')).not.toContain('Consulting');
  });

  it('serves the page to the admin token in the Authorization header, uncached and without Referer', async () => {
    const res = await get(`/invoices/${invoiceId}.html`, {
      authorization: `Bearer ${tollgate.runtime.adminToken}`,
    });
    expect(res.status).toBe(200);
    expect(res.body.toString('utf8')).toContain('Consulting');
    expect(res.headers['cache-control']).toBe('private, no-store');
    expect(res.headers['referrer-policy']).toBe('no-referrer');
  });

  it('opens a signed link for that invoice and format only, until it expires', async () => {
    const links = await admin('POST', `/api/admin/invoices/${invoiceId}/document-links`);
    expect(links.status).toBe(201);
    const html = links.json.html as string;
    const pdf = links.json.pdf as string;
    expect(html).not.toContain(tollgate.runtime.adminToken);

    const page = await get(html);
    expect(page.status).toBe(200);
    expect(page.body.toString('utf8')).toContain('Consulting');
    const file = await get(pdf);
    expect(file.status).toBe(200);
    expect(file.headers['content-type']).toBe('application/pdf');
    expect(file.body.subarray(0, 5).toString('latin1')).toBe('%PDF-');

    // The same signature on another invoice, or on the other format, opens nothing.
    const query = html.slice(html.indexOf('?'));
    expect((await get(`/invoices/${otherInvoiceId}.html${query}`)).status).toBe(401);
    expect((await get(`/invoices/${invoiceId}.pdf${query}`)).status).toBe(401);
    // A changed expiry breaks the signature.
    const later = query.replace(/expires=(\d+)/, (_, e: string) => `expires=${Number(e) + 3600}`);
    expect((await get(`/invoices/${invoiceId}.html${later}`)).status).toBe(401);
    // A link that has expired (signed with the server's key, an hour in the past).
    const expired = createInvoiceLinks(tollgate.runtime.adminToken).sign(invoiceId, 'html', {
      now: new Date(Date.now() - 2 * 3600_000),
      ttlSeconds: 3600,
    });
    expect((await get(expired)).status).toBe(401);
  });

  it('refuses a request with neither', async () => {
    const res = await get(`/invoices/${invoiceId}.pdf`);
    expect(res.status).toBe(401);
    expect(res.headers['content-type']).toBe('application/problem+json');
  });
});
