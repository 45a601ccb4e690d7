import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTollgate, type Tollgate } from '../../src/app.ts';
import type { SandboxRail } from '../../src/billing/index.ts';
import { createProgram } from '../../src/cli/program.ts';
import { mountCliRoute } from '../../src/cli/remote.ts';
import { createLogger } from '../../src/util/log.ts';
import { testCatalog } from '../support/catalog.ts';

/**
 * `tollgate invoices credit-note|refund|credit-notes` against a running server (the CLI's
 * `POST /api/admin/cli` path, over real HTTP): a usage correction by invoice line, a partial
 * refund, a refund beyond what is left (refused, naming the amount), and the list.
 */
const ADMIN_TOKEN = 'tga_credit_notes_cli_test_token_01';
let tollgate: Tollgate;
// A folder of its own: runs of this file side by side (or one left over) never share a data dir.
const dataDir = mkdtempSync(join(tmpdir(), 'tollgate-credit-notes-cli-'));
let number: string;
/** An invoice whose charge was declined: open, 30.00 due. */
let openNumber: string;

async function cli(...argv: string[]) {
  const res = await request(`${tollgate.consoleUrl}/api/admin/cli`, {
    method: 'POST',
    headers: { authorization: `Bearer ${tollgate.runtime.adminToken}`, 'content-type': 'application/json' },
    // Any valid config file: the command runs against this server's live modules.
    body: JSON.stringify({ argv, cwd: resolve(import.meta.dirname, '../../examples/quickstart') }),
  });
  expect(res.statusCode).toBe(200);
  return (await res.body.json()) as { stdout: string; stderr: string; exitCode: number };
}

beforeAll(async () => {
  let live: Tollgate | null = null;
  tollgate = await startTollgate({
    config: testCatalog({ billing: { rail: 'sandbox' }, admin: { token: ADMIN_TOKEN } }),
    database: ':memory:',
    dataDir,
    gatewayPort: 0,
    consolePort: 0,
    log: createLogger({ level: 'silent' }),
    routes: (app) => mountCliRoute(app, { adminToken: ADMIN_TOKEN, tollgate: () => live, createProgram }),
  });
  live = tollgate;
  const customer = await tollgate.customers.create({ name: 'CLI Org', email: 'cli@cn.test' });
  await tollgate.billing.attachCard(customer.id, '4242 4242 4242 4242');
  const invoice = await tollgate.billing.createManualInvoice({
    customerId: customer.id,
    currency: 'USD',
    lines: [{ description: 'Work', unitPrice: '40.00' }],
    issue: true,
  });
  await (tollgate.billing.rail as SandboxRail).drain();
  number = (await tollgate.billing.mustGet(invoice.id)).number as string;
  const declined = await tollgate.customers.create({ name: 'CLI Open Org', email: 'open@cn.test' });
  await tollgate.billing.attachCard(declined.id, '4000 0000 0000 0002');
  const open = await tollgate.billing.createManualInvoice({
    customerId: declined.id,
    currency: 'USD',
    lines: [{ description: 'Work', unitPrice: '30.00' }],
    issue: true,
  });
  await (tollgate.billing.rail as SandboxRail).drain();
  openNumber = (await tollgate.billing.mustGet(open.id)).number as string;
});

afterAll(async () => {
  await tollgate?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('tollgate invoices credit-note | refund | credit-notes', () => {
  it('issues, refunds, refuses too much and lists', async () => {
    const note = await cli(
      'invoices',
      'credit-note',
      number,
      '--reason',
      'usage_correction',
      '--line',
      '1:10.00',
    );
    expect(note.exitCode, JSON.stringify(note)).toBe(0);
    expect(note.stdout).toMatch(new RegExp(`CN-\\d{6} on ${number}: 10\\.00 USD \\(usage correction\\)`));
    const refund = await cli('invoices', 'refund', number, '--amount', '5.00');
    expect(refund.exitCode).toBe(0);
    expect(refund.stdout).toContain('refunded 5.00');
    const tooMuch = await cli('invoices', 'refund', number, '--amount', '500.00');
    expect(tooMuch.exitCode).not.toBe(0);
    expect(`${tooMuch.stdout}${tooMuch.stderr}`).toContain('25.00 USD');
    const list = await cli('invoices', 'credit-notes', '--json');
    const notes = JSON.parse(list.stdout) as { total: string; refundAmount: string }[];
    expect(notes.map((n) => [n.total, n.refundAmount])).toEqual([
      ['5.00', '5.00'],
      ['10.00', '10.00'],
    ]);
  });

  it('takes a credit note off an open invoice and voids it (then refuses a second void)', async () => {
    const note = await cli('invoices', 'credit-note', openNumber, '--reason', 'other', '--amount', '4.00');
    expect(note.exitCode, JSON.stringify(note)).toBe(0);
    expect(note.stdout).toContain('off the amount due 4.00');
    const cn = /CN-\d{6}/.exec(note.stdout)?.[0] as string;
    expect((await tollgate.billing.find(openNumber)).amountDue).toBe('26.00');
    const voided = await cli('invoices', 'void-credit-note', cn);
    expect(voided.exitCode, JSON.stringify(voided)).toBe(0);
    expect(voided.stdout).toContain(`${cn} on ${openNumber}`);
    expect(voided.stdout).toContain('void');
    expect((await tollgate.billing.find(openNumber)).amountDue).toBe('30.00');
    const again = await cli('invoices', 'void-credit-note', cn);
    expect(again.exitCode).not.toBe(0);
    expect(`${again.stdout}${again.stderr}`).toContain('void already');
    const list = await cli('invoices', 'credit-notes', '--invoice', openNumber, '--json');
    expect((JSON.parse(list.stdout) as { status: string }[]).map((n) => n.status)).toEqual(['void']);
  });
});
