import { problems } from '../../http/problem.ts';
import { minorUnits } from '../../util/money.ts';
import type { Db, Invoice } from '../model.ts';
import { type InvoiceFilter, invoiceLines, invoiceRow, listInvoiceRows, toInvoice } from '../repo.ts';
import { billingDb } from '../tables.ts';

/** Reading invoices with their lines: by id, by number, and lists (admin, portal, CLI). */
export type InvoiceReads = ReturnType<typeof createInvoiceReads>;

export function createInvoiceReads(db: Db) {
  /** `on`: a transaction, to read what it wrote before it commits. */
  async function load(id: string, on: Db = db): Promise<Invoice | null> {
    const row = await invoiceRow(on, id);
    if (!row) return null;
    return toInvoice(row, await invoiceLines(on, [id]), minorUnits(row.currency));
  }

  async function mustLoad(id: string, on: Db = db): Promise<Invoice> {
    const invoice = await load(id, on);
    if (!invoice) throw problems.notFound(`No invoice ${id}.`);
    return invoice;
  }

  async function list(filter: InvoiceFilter = {}): Promise<Invoice[]> {
    const rows = await listInvoiceRows(db, filter);
    const lines = await invoiceLines(
      db,
      rows.map((r) => r.id),
    );
    return rows.map((r) =>
      toInvoice(
        r,
        lines.filter((l) => l.invoice_id === r.id),
        minorUnits(r.currency),
      ),
    );
  }

  /** By id (`inv_…`) or number (`INV-000123`). */
  async function find(idOrNumber: string): Promise<Invoice> {
    if (/^INV-\d+$/i.test(idOrNumber)) {
      const row = await billingDb(db)
        .selectFrom('billing_invoices')
        .select('id')
        .where('number', '=', idOrNumber.toUpperCase())
        .executeTakeFirst();
      if (!row) throw problems.notFound(`No invoice ${idOrNumber}.`);
      return mustLoad(row.id);
    }
    return mustLoad(idOrNumber);
  }

  return { load, mustLoad, list, find };
}
