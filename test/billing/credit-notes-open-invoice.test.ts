import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTollgate, type Tollgate } from '../../src/app.ts';
import type { SandboxRail } from '../../src/billing/index.ts';
import { WEBHOOK_EVENT_SCHEMAS } from '../../src/notify/event-types.ts';
import { createLogger } from '../../src/util/log.ts';
import { PortalClient } from '../portal/client.ts';
import { testCatalog } from '../support/catalog.ts';
import { PG_URL } from '../support/postgres.ts';

/**
 * Pre-payment credit notes and voiding them, through the admin API over real HTTP on PostgreSQL
 * with the sandbox rail, as Stripe has them: on an open invoice a credit note lowers the amount
 * due (never below zero; the invoice's lines stay as issued), and only the amount due is charged
 * afterwards; a note can be voided while its invoice is open, which puts the amount due back
 * (stripe-node `types/CreditNotes.d.ts` `type: pre_payment | post_payment`; async-stripe
 * `src/resources/credit_note_ext.rs`: "You can only void a credit note if the associated invoice
 * is open"). The events are written with the change (notify's outbox): a failing outbox write
 * leaves the invoice and its credit notes as they were.
 */
const TOKEN = 'tga_credit_notes_open_invoice_token_01';
const DECLINES = '4000 0000 0000 0002';
const schema = `cn_${process.pid}_${Date.now().toString(36)}`;
const dataDir = mkdtempSync(join(tmpdir(), 'tollgate-credit-notes-open-'));
const pool = new pg.Pool({ connectionString: PG_URL, max: 2, options: `-c search_path=${schema}` });
let tollgate: Tollgate;
let n = 0;

// biome-ignore lint/suspicious/noExplicitAny: the test reads arbitrary JSON bodies.
type Json = Record<string, any>;

async function call(
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; type: string; json: Json }> {
  const res = await fetch(`${tollgate.consoleUrl}/api/admin${path}`, {
    method,
    headers: {
      authorization: `Bearer ${TOKEN}`,
      ...(body !== undefined && { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return {
    status: res.status,
    type: res.headers.get('content-type') ?? '',
    json: (await res.json()) as Json,
  };
}

const sql = async (text: string, params: unknown[] = []) => (await pool.query(text, params)).rows;

/** An issued invoice of 100.00 whose first charge the sandbox declined: open, 100.00 due. */
async function openInvoice(customerId?: string) {
  const id =
    customerId ??
    (await tollgate.customers.create({ name: `Open Org ${++n}`, email: `open${n}@cn.test` })).id;
  await tollgate.billing.attachCard(id, DECLINES);
  const created = await tollgate.billing.createManualInvoice({
    customerId: id,
    currency: 'USD',
    lines: [
      { description: 'Platform fee', unitPrice: '60.00' },
      { description: 'API requests', unitPrice: '40.00' },
    ],
    issue: true,
  });
  await (tollgate.billing.rail as SandboxRail).drain();
  const invoice = (await call('GET', `/invoices/${created.id}`)).json;
  expect(invoice).toMatchObject({ status: 'issued', total: '100.00', amountDue: '100.00' });
  return { customerId: id, invoice };
}

/** Runs the dunning job as if its next retry were due, with a card that pays. */
async function retryWithGoodCard(customerId: string) {
  await tollgate.billing.attachCard(customerId, '4242 4242 4242 4242');
  await tollgate.billing.runDunning(new Date(Date.now() + 30 * 86_400_000));
  await (tollgate.billing.rail as SandboxRail).drain();
}

const charges = async (invoiceId: string) =>
  ((await call('GET', `/invoices/${invoiceId}/payments`)).json.data as Json[]).filter(
    (p) => p.purpose === 'invoice',
  );

/** The outbox's events about a credit note, each checked against the published contract. */
async function outbox(type: 'credit_note.issued' | 'credit_note.voided', creditNoteId: string) {
  const rows = await sql(
    `select payload from notify_messages where type = $1 and payload::jsonb -> 'creditNote' ->> 'id' = $2`,
    [type, creditNoteId],
  );
  const payloads = rows.map((r) => (typeof r.payload === 'string' ? JSON.parse(r.payload) : r.payload));
  for (const payload of payloads)
    expect(WEBHOOK_EVENT_SCHEMAS[type].safeParse(payload).error).toBeUndefined();
  return payloads as Json[];
}

beforeAll(async () => {
  const admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  await admin.query(`create schema ${schema}`);
  await admin.end();
  const url = new URL(PG_URL);
  url.searchParams.set('options', `-c search_path=${schema}`);
  tollgate = await startTollgate({
    config: testCatalog({ billing: { rail: 'sandbox' }, admin: { token: TOKEN } }),
    database: url.toString(),
    dataDir,
    gatewayPort: 0,
    consolePort: 0,
    log: createLogger({ level: 'silent' }),
  });
}, 180_000);

afterAll(async () => {
  await tollgate?.stop();
  await pool.query(`drop schema if exists ${schema} cascade`);
  await pool.end();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('credit notes on an open invoice (admin API, PostgreSQL, sandbox rail)', () => {
  it('lowers the amount due without touching the invoice, and the next charge takes only that', async () => {
    const { customerId, invoice } = await openInvoice();
    const issued = await call('POST', `/invoices/${invoice.id}/credit-notes`, {
      reason: 'usage_correction',
      memo: 'Requests counted twice',
      lines: [{ invoiceLine: 2, amount: '25.00' }],
    });
    expect(issued.status).toBe(201);
    expect(issued.json).toMatchObject({
      status: 'issued',
      type: 'pre_payment',
      total: '25.00',
      prePaymentAmount: '25.00',
      postPaymentAmount: '0.00',
      refundAmount: '0.00',
      creditAmount: '0.00',
      refund: null,
      voidedAt: null,
    });
    const after = (await call('GET', `/invoices/${invoice.id}`)).json;
    expect(after).toEqual({ ...invoice, amountDue: '75.00' });
    const issuedEvents = await outbox('credit_note.issued', issued.json.id);
    expect(issuedEvents).toHaveLength(1);
    expect(issuedEvents[0]?.invoice).toMatchObject({ id: invoice.id, status: 'issued', amountDue: '75.00' });

    await retryWithGoodCard(customerId);
    const paid = (await call('GET', `/invoices/${invoice.id}`)).json;
    expect(paid).toMatchObject({ status: 'paid', total: '100.00', amountDue: '75.00' });
    const succeeded = (await charges(invoice.id)).filter((p) => p.status === 'succeeded');
    expect(succeeded.map((p) => Number(p.amount).toFixed(2))).toEqual(['75.00']);
  });

  it('refuses what passes the invoice total or the amount due with a problem, changing nothing', async () => {
    const { invoice } = await openInvoice();
    expect(
      (await call('POST', `/invoices/${invoice.id}/credit-notes`, { reason: 'other', amount: '60.00' }))
        .status,
    ).toBe(201);
    const before = await sql('select count(*)::int as n from billing_credit_notes');
    const tooMuch = await call('POST', `/invoices/${invoice.id}/credit-notes`, {
      reason: 'other',
      amount: '40.01',
    });
    expect(tooMuch.status).toBe(400);
    expect(tooMuch.type).toContain('application/problem+json');
    expect(tooMuch.json.errors).toEqual([{ path: 'amount', message: expect.stringContaining('40.00') }]);
    const line = await call('POST', `/invoices/${invoice.id}/credit-notes`, {
      reason: 'other',
      lines: [{ invoiceLine: 2, amount: '40.01' }],
    });
    expect(line.status).toBe(400);
    expect(line.json.errors[0].path).toBe('lines[0].amount');
    const refund = await call('POST', `/invoices/${invoice.id}/credit-notes`, {
      reason: 'other',
      amount: '10.00',
      refundAmount: '10.00',
    });
    expect(refund.status).toBe(400);
    expect(refund.json.errors[0].path).toBe('refundAmount');
    expect(await sql('select count(*)::int as n from billing_credit_notes')).toEqual(before);
    expect((await call('GET', `/invoices/${invoice.id}`)).json.amountDue).toBe('40.00');
  });

  it('refuses to move the amount due while a charge of it is with the rail (409), changing nothing', async () => {
    const { customerId, invoice } = await openInvoice();
    // A charge sent and not answered yet: its amount is fixed at the rail.
    await sql(
      `insert into billing_payments (id, invoice_id, customer_id, idempotency_key, purpose, rail, status, amount, currency, created_at, updated_at)
       values ($1, $2, $3, $4, 'invoice', 'sandbox', 'pending', 100, 'USD', now(), now())`,
      [`pay_inflight_${invoice.id}`, invoice.id, customerId, `inflight:${invoice.id}`],
    );
    const before = await sql('select count(*)::int as n from billing_credit_notes');
    const refused = await call('POST', `/invoices/${invoice.id}/credit-notes`, {
      reason: 'other',
      amount: '10.00',
    });
    expect(refused.status).toBe(409);
    expect(refused.type).toContain('application/problem+json');
    expect(refused.json.detail).toContain('100.00 USD');
    expect(await sql('select count(*)::int as n from billing_credit_notes')).toEqual(before);
    expect((await call('GET', `/invoices/${invoice.id}`)).json).toEqual(invoice);
  });

  it('answers hostile input with 4xx problems, never 5xx', async () => {
    const { invoice } = await openInvoice();
    const bodies: unknown[] = [
      { reason: 'other', amount: -5 },
      { reason: 'other', amount: '-5.00' },
      { reason: 'other', amount: '1e3' },
      { reason: 'other', amount: '0.001' },
      { reason: 'other', amount: '10.00', lines: [{ amount: '1.00', description: 'x' }] },
      { reason: 'nope', amount: '1.00' },
      { reason: 'other', lines: [{ invoiceLine: 99, amount: '1.00' }] },
      { reason: 'other', amount: '1.00', extra: true },
    ];
    for (const body of bodies) {
      const res = await call('POST', `/invoices/${invoice.id}/credit-notes`, body);
      expect(res.status, JSON.stringify(body)).toBeGreaterThanOrEqual(400);
      expect(res.status, JSON.stringify(body)).toBeLessThan(500);
      expect(res.type).toContain('application/problem+json');
    }
    for (const id of ['x'.repeat(101), "CN-1' or '1'='1", '%00']) {
      const res = await call('POST', `/credit-notes/${encodeURIComponent(id)}/void`);
      expect(res.status, id).toBeGreaterThanOrEqual(400);
      expect(res.status, id).toBeLessThan(500);
    }
    expect((await call('GET', `/invoices/${invoice.id}`)).json).toEqual(invoice);
  });

  it('settles the invoice when credit notes take its whole amount due; it is then paid and charged nothing', async () => {
    const { customerId, invoice } = await openInvoice();
    const note = await call('POST', `/invoices/${invoice.id}/credit-notes`, {
      reason: 'duplicate',
      amount: '100.00',
    });
    expect(note.status).toBe(201);
    const after = (await call('GET', `/invoices/${invoice.id}`)).json;
    expect(after).toMatchObject({
      status: 'paid',
      amountDue: '0.00',
      total: '100.00',
      paidAt: expect.any(String),
    });
    const paidEvents = await sql(
      `select payload from notify_messages where type = 'invoice.paid' and payload::jsonb -> 'invoice' ->> 'id' = $1`,
      [invoice.id],
    );
    expect(paidEvents).toHaveLength(1);
    await retryWithGoodCard(customerId);
    expect((await charges(invoice.id)).filter((p) => p.status === 'succeeded')).toEqual([]);
    // Its invoice is no longer open: the note stays (Stripe voids only notes of open invoices).
    const refused = await call('POST', `/credit-notes/${note.json.number}/void`);
    expect(refused.status).toBe(409);
    expect(refused.type).toContain('application/problem+json');
    expect(refused.json.detail).toContain('open');
  });

  it('voids a note of an open invoice: the amount due goes back up and the charge takes all of it', async () => {
    const { customerId, invoice } = await openInvoice();
    const note = (
      await call('POST', `/invoices/${invoice.id}/credit-notes`, { reason: 'other', amount: '30.00' })
    ).json;
    expect((await call('GET', `/invoices/${invoice.id}`)).json.amountDue).toBe('70.00');

    const voided = await call('POST', `/credit-notes/${note.id}/void`);
    expect(voided.status).toBe(200);
    expect(voided.json).toMatchObject({ id: note.id, status: 'void', voidedAt: expect.any(String) });
    expect((await call('GET', `/invoices/${invoice.id}`)).json).toEqual(invoice);
    const voidedEvents = await outbox('credit_note.voided', note.id);
    expect(voidedEvents).toHaveLength(1);
    expect(voidedEvents[0]).toMatchObject({
      creditNote: { status: 'void', type: 'pre_payment', prePaymentAmount: '30.00' },
      invoice: { id: invoice.id, amountDue: '100.00' },
    });

    const again = await call('POST', `/credit-notes/${note.id}/void`);
    expect(again.status).toBe(409);
    expect(again.json.detail).toContain('void already');
    expect((await call('POST', '/credit-notes/CN-999999/void')).status).toBe(404);
    // A void note no longer counts against the invoice: the whole total can be credited again.
    expect(
      (await call('POST', `/invoices/${invoice.id}/credit-notes`, { reason: 'other', amount: '10.00' }))
        .status,
    ).toBe(201);
    await retryWithGoodCard(customerId);
    const succeeded = (await charges(invoice.id)).filter((p) => p.status === 'succeeded');
    expect(succeeded.map((p) => Number(p.amount).toFixed(2))).toEqual(['90.00']);
  });

  it('refuses to void a note that sent a refund (409), and the refund stands', async () => {
    const customer = await tollgate.customers.create({ name: 'Refund Org', email: 'refund@cn.test' });
    await tollgate.billing.attachCard(customer.id, '4242 4242 4242 4242');
    const created = await tollgate.billing.createManualInvoice({
      customerId: customer.id,
      currency: 'USD',
      lines: [{ description: 'Work', unitPrice: '50.00' }],
      issue: true,
    });
    await (tollgate.billing.rail as SandboxRail).drain();
    const refund = await call('POST', `/invoices/${created.id}/refund`, { amount: '20.00' });
    expect(refund.status).toBe(201);
    expect(refund.json.creditNote).toMatchObject({ type: 'post_payment', prePaymentAmount: '0.00' });
    const refused = await call('POST', `/credit-notes/${refund.json.creditNote.id}/void`);
    expect(refused.status).toBe(409);
    expect(refused.json.detail).toContain('refund');
    expect((await call('GET', `/credit-notes/${refund.json.creditNote.id}`)).json.status).toBe('issued');
  });

  it('writes nothing when its event cannot be written (the event is part of the change)', async () => {
    const { invoice } = await openInvoice();
    await sql(`create or replace function cn_refuse_event() returns trigger language plpgsql as $$
      begin
        if new.type in ('credit_note.issued', 'credit_note.voided') then raise exception 'outbox refused %', new.type; end if;
        return new;
      end $$`);
    await sql(
      'create trigger cn_refuse_event before insert on notify_messages for each row execute function cn_refuse_event()',
    );
    try {
      const before = await sql('select count(*)::int as n from billing_credit_notes');
      const failed = await call('POST', `/invoices/${invoice.id}/credit-notes`, {
        reason: 'other',
        amount: '10.00',
      });
      expect(failed.status).toBeGreaterThanOrEqual(500);
      expect(failed.type).toContain('application/problem+json');
      expect(await sql('select count(*)::int as n from billing_credit_notes')).toEqual(before);
      expect((await call('GET', `/invoices/${invoice.id}`)).json).toEqual(invoice);
    } finally {
      await sql('drop trigger cn_refuse_event on notify_messages');
    }
    const note = (
      await call('POST', `/invoices/${invoice.id}/credit-notes`, { reason: 'other', amount: '10.00' })
    ).json;
    await sql(
      'create trigger cn_refuse_event before insert on notify_messages for each row execute function cn_refuse_event()',
    );
    try {
      expect((await call('POST', `/credit-notes/${note.id}/void`)).status).toBeGreaterThanOrEqual(500);
      expect((await call('GET', `/credit-notes/${note.id}`)).json.status).toBe('issued');
      expect((await call('GET', `/invoices/${invoice.id}`)).json.amountDue).toBe('90.00');
    } finally {
      await sql('drop trigger cn_refuse_event on notify_messages');
    }
  });

  it('shows the customer the amount due, each credit note and its status in the portal', async () => {
    const owner = new PortalClient(tollgate.consoleApp, '10.15.0.1', tollgate.runtime.store);
    const { customerId } = await owner.signup('owner@open-invoice.test', 'Portal Credit Co');
    const { invoice } = await openInvoice(customerId);
    const kept = (
      await call('POST', `/invoices/${invoice.id}/credit-notes`, { reason: 'order_change', amount: '15.00' })
    ).json;
    const voided = (
      await call('POST', `/invoices/${invoice.id}/credit-notes`, { reason: 'other', amount: '5.00' })
    ).json;
    expect((await call('POST', `/credit-notes/${voided.id}/void`)).status).toBe(200);

    const shown = await owner.get(`/api/portal/invoices/${invoice.id}`);
    expect(shown.status).toBe(200);
    expect(shown.json.invoice).toMatchObject({ status: 'open', total: '100.00', amountDue: '85.00' });
    const notes = shown.json.invoice.creditNotes as Json[];
    expect(notes.map((c) => [c.number, c.status, c.prePaymentAmount])).toEqual([
      [voided.number, 'void', '5.00'],
      [kept.number, 'issued', '15.00'],
    ]);
    expect(notes[0]?.voidedAt).toEqual(expect.any(String));
  });
});

describe('automatic top-ups (PostgreSQL, sandbox rail)', () => {
  it('writes credits.auto_recharged once, with the rail answer that started the top-up', async () => {
    const customer = await tollgate.customers.create({ name: 'Recharge Org', email: 'recharge@cn.test' });
    await tollgate.billing.attachCard(customer.id, '4242 4242 4242 4242');
    await tollgate.billing.credits.configure({
      customerId: customer.id,
      currency: 'USD',
      autoRecharge: { threshold: '10.00', amount: '25.00' },
    });
    expect(await tollgate.billing.autoRecharge(customer.id, 'USD')).toBe(true);
    await (tollgate.billing.rail as SandboxRail).drain();
    const events = await sql(
      `select payload from notify_messages where type = 'credits.auto_recharged' and payload::jsonb ->> 'customerId' = $1`,
      [customer.id],
    );
    expect(events.map((e) => (typeof e.payload === 'string' ? JSON.parse(e.payload) : e.payload))).toEqual([
      { customerId: customer.id, currency: 'USD', amount: '25.00', paymentUrl: null },
    ]);
    expect(await tollgate.billing.credits.balance(customer.id, 'USD')).toBe('25.00');
  });
});
