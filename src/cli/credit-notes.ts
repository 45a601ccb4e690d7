import type { Command } from 'commander';
import pc from 'picocolors';
import {
  CREDIT_NOTE_REASONS,
  type CreditNote,
  type CreditNoteReason,
} from '../billing/credit-notes/model.ts';
import { problems } from '../http/problem.ts';
import { withTollgate } from './context.ts';
import { createTable } from './table.ts';

/**
 * `tollgate invoices refund <invoice> [--amount]`, `tollgate invoices credit-note <invoice> …`,
 * `tollgate invoices void-credit-note <credit note>` and `tollgate invoices credit-notes
 * [--customer|--invoice]`: refunds and credit notes from the command line, through the same
 * billing service as the admin API.
 */
function printCreditNote(note: CreditNote): void {
  const voided = note.status === 'void' ? ` ${pc.yellow('void')}` : '';
  console.log(
    `${pc.green('✓')} ${pc.bold(note.number)} on ${note.invoiceNumber ?? note.invoiceId}: ${note.total} ${note.currency} (${note.reason.replace(/_/g, ' ')})${voided}`,
  );
  const parts = [
    ['off the amount due', note.prePaymentAmount],
    ['refunded', note.refundAmount],
    ['customer credit', note.creditAmount],
    ['out of band', note.outOfBandAmount],
  ].filter(([, v]) => Number(v) !== 0);
  console.log(
    `  ${parts.map(([k, v]) => `${k} ${v}`).join('   ')}${note.refund ? `   refund ${note.refund.status}` : ''}`,
  );
}

/** `--line 1:10.00` (invoice line 1, 10.00 before tax) or `--line "Goodwill:5.00"`. */
function parseLine(text: string): { invoiceLine?: number; description?: string; amount: string } {
  const at = text.lastIndexOf(':');
  if (at <= 0)
    throw problems.badRequest(
      `--line ${text}: write <invoice line number>:<amount> or <description>:<amount>.`,
    );
  const head = text.slice(0, at);
  const amount = text.slice(at + 1);
  return /^\d+$/.test(head) ? { invoiceLine: Number(head), amount } : { description: head, amount };
}

export function registerCreditNoteCommands(invoices: Command): void {
  invoices
    .command('refund <invoice>')
    .description('refund (part of) a paid invoice through the rail that collected it, as a credit note')
    .option('--amount <amount>', 'tax included; default: everything paid and not refunded yet')
    .action(async (ref: string, options: { amount?: string }, command: Command) => {
      await withTollgate(command, async (tollgate) => {
        const invoice = await tollgate.billing.find(ref);
        const refund = await tollgate.billing.refundInvoice(invoice.id, options.amount);
        printCreditNote(refund.creditNote);
      });
    });
  invoices
    .command('credit-note <invoice>')
    .description(
      'issue a credit note on an open or paid invoice (usage corrections, goodwill); on an open invoice it lowers the amount due; the invoice lines are not changed',
    )
    .requiredOption('--reason <reason>', CREDIT_NOTE_REASONS.join(' | '))
    .option(
      '--line <line:amount...>',
      'invoice line number (or a description) and its amount before tax, e.g. 1:10.00',
    )
    .option('--amount <amount>', 'the total, tax included, instead of lines')
    .option(
      '--refund <amount>',
      'of the total (less what it takes off the amount due), refunded through the rail',
    )
    .option('--credit <amount>', 'of the total, added to the customer’s prepaid credits')
    .option('--out-of-band <amount>', 'of the total, settled outside Tollgate')
    .option('--memo <text>', 'shown on the credit note and in the mail to the customer')
    .option('--json', 'print JSON')
    .action(
      async (
        ref: string,
        options: {
          reason: string;
          line?: string[];
          amount?: string;
          refund?: string;
          credit?: string;
          outOfBand?: string;
          memo?: string;
          json?: boolean;
        },
        command: Command,
      ) => {
        if (!CREDIT_NOTE_REASONS.includes(options.reason as CreditNoteReason)) {
          throw problems.badRequest(`--reason must be one of ${CREDIT_NOTE_REASONS.join(', ')}.`);
        }
        await withTollgate(command, async (tollgate) => {
          const invoice = await tollgate.billing.find(ref);
          const note = await tollgate.billing.creditNotes.issue(invoice.id, {
            reason: options.reason as CreditNoteReason,
            ...(options.memo ? { memo: options.memo } : {}),
            ...(options.line ? { lines: options.line.map(parseLine) } : {}),
            ...(options.amount ? { amount: options.amount } : {}),
            ...(options.refund ? { refundAmount: options.refund } : {}),
            ...(options.credit ? { creditAmount: options.credit } : {}),
            ...(options.outOfBand ? { outOfBandAmount: options.outOfBand } : {}),
          });
          if (options.json) console.log(JSON.stringify(note, null, 2));
          else printCreditNote(note);
        });
      },
    );
  invoices
    .command('void-credit-note <creditNote>')
    .description(
      "void a credit note (id or number) of an open invoice: the invoice's amount due goes back up",
    )
    .option('--json', 'print JSON')
    .action(async (ref: string, options: { json?: boolean }, command: Command) => {
      await withTollgate(command, async (tollgate) => {
        const note = await tollgate.billing.creditNotes.void(ref);
        if (options.json) console.log(JSON.stringify(note, null, 2));
        else printCreditNote(note);
      });
    });
  invoices
    .command('credit-notes')
    .description('list credit notes, newest first')
    .option('--customer <id>', 'only this customer')
    .option('--invoice <invoice>', 'only this invoice (id or number)')
    .option('--json', 'print JSON')
    .action(async (options: { customer?: string; invoice?: string; json?: boolean }, command: Command) => {
      await withTollgate(command, async (tollgate) => {
        const invoiceId = options.invoice ? (await tollgate.billing.find(options.invoice)).id : undefined;
        const notes = await tollgate.billing.creditNotes.list({ customerId: options.customer, invoiceId });
        if (options.json) return console.log(JSON.stringify(notes, null, 2));
        if (notes.length === 0) return console.log(pc.dim('No credit notes.'));
        const table = createTable({
          head: [
            'number',
            'status',
            'invoice',
            'customer',
            'reason',
            'total',
            'off due',
            'refunded',
            'credit',
            'issued',
          ].map((h) => pc.bold(h)),
        });
        for (const n of notes) {
          table.push([
            n.number,
            n.status,
            n.invoiceNumber ?? n.invoiceId,
            n.customerId,
            n.reason,
            { hAlign: 'right', content: `${n.total} ${n.currency}` },
            { hAlign: 'right', content: n.prePaymentAmount },
            { hAlign: 'right', content: n.refundAmount },
            { hAlign: 'right', content: n.creditAmount },
            n.issuedAt.slice(0, 10),
          ]);
        }
        console.log(table.toString());
      });
    });
}
