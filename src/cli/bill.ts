import { SingleBar } from 'cli-progress';
import type { Command } from 'commander';
import pc from 'picocolors';
import type { Invoice } from '../billing/index.ts';
import { problems } from '../http/problem.ts';
import { Decimal, formatMoney } from '../util/money.ts';
import { withTollgate } from './context.ts';
import { registerCreditNoteCommands } from './credit-notes.ts';
import { createTable } from './table.ts';

/**
 * `tollgate bill run|dunning`, `tollgate invoices list|show|issue|pay|void` (and refunds and credit
 * notes, `credit-notes.ts`),
 * `tollgate credits show|grant` and `tollgate simulate --plan <key> --period <YYYY-MM>`.
 */
function statusColour(status: Invoice['status']): string {
  if (status === 'paid') return pc.green(status);
  if (status === 'issued') return pc.yellow(status);
  if (status === 'draft') return pc.cyan(status);
  return pc.dim(status);
}

const day = (s: string | null) => (s ? s.slice(0, 10) : pc.dim('—'));

function invoicesTable(invoices: Invoice[]): string {
  const table = createTable({
    head: ['number', 'id', 'customer', 'status', 'period', 'total', 'due', 'issued'].map((h) => pc.bold(h)),
  });
  for (const i of invoices) {
    table.push([
      i.number ?? pc.dim('draft'),
      i.id,
      i.customerId,
      statusColour(i.status),
      `${day(i.periodFrom)} → ${day(i.periodTo)}`,
      { hAlign: 'right', content: `${i.total} ${i.currency}` },
      { hAlign: 'right', content: i.status === 'issued' ? `${i.amountDue} ${i.currency}` : pc.dim('—') },
      day(i.issuedAt),
    ]);
  }
  return table.toString();
}

function printInvoice(i: Invoice): void {
  console.log(`${pc.bold(i.number ?? `Draft ${i.id}`)}  ${statusColour(i.status)}  ${pc.dim(i.id)}`);
  console.log(`customer ${i.customerId}${i.subscriptionId ? `  subscription ${i.subscriptionId}` : ''}`);
  console.log(
    `period   ${day(i.periodFrom)} → ${day(i.periodTo)}   issued ${day(i.issuedAt)}   due ${day(i.dueAt)}`,
  );
  const table = createTable({
    head: ['description', 'quantity', 'unit price', 'amount'].map((h) => pc.bold(h)),
  });
  for (const l of i.lines) {
    table.push([
      l.description,
      { hAlign: 'right', content: l.quantity },
      { hAlign: 'right', content: l.unitPrice ?? '' },
      { hAlign: 'right', content: l.amount },
    ]);
    for (const t of l.tiers ?? []) {
      if (t.quantity === '0') continue;
      table.push([
        pc.dim(`  tier ${t.tier} (≤ ${t.upTo ?? '∞'})`),
        pc.dim(t.quantity),
        pc.dim(t.unitPrice),
        pc.dim(t.amount),
      ]);
    }
  }
  console.log(table.toString());
  console.log(
    `subtotal ${i.subtotal}   tax ${i.tax}   total ${pc.bold(`${i.total} ${i.currency}`)}   credits ${i.creditsApplied}   due ${i.amountDue}`,
  );
  if (i.lastPaymentError) console.log(pc.red(`last payment error: ${i.lastPaymentError}`));
}

function monthRange(period: string): { from: Date; to: Date } {
  const m = /^(\d{4})-(\d{2})$/.exec(period);
  if (!m || Number(m[2]) < 1 || Number(m[2]) > 12)
    throw problems.badRequest(`--period must be a month such as 2026-03, got "${period}"`);
  const from = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, 1));
  const to = new Date(Date.UTC(Number(m[1]), Number(m[2]), 1));
  return { from, to };
}

export function registerBillingCommands(program: Command): void {
  const bill = program.command('bill').description('billing run and dunning');

  bill
    .command('run')
    .description('invoice every subscription whose period has ended (idempotent; safe to rerun)')
    .option('--as-of <iso>', 'bill periods that ended by this time (default now)')
    .option('--json', 'print JSON')
    .action(async (options: { asOf?: string; json?: boolean }, command: Command) => {
      const asOf = options.asOf ? new Date(options.asOf) : undefined;
      if (asOf && Number.isNaN(asOf.getTime()))
        throw problems.badRequest(`--as-of must be an ISO 8601 time, got "${options.asOf}"`);
      await withTollgate(command, async (tollgate) => {
        const bar = options.json
          ? null
          : new SingleBar(
              {
                format: `billing ${pc.cyan('{bar}')} {value}/{total} subscriptions | {invoiced} invoiced | {skipped} already`,
                hideCursor: true,
                clearOnComplete: false,
              },
              undefined,
            );
        let started = false;
        const summary = await tollgate.billing.runBilling({
          asOf,
          onProgress: (p) => {
            if (!bar) return;
            if (!started) {
              bar.start(p.total, 0, { invoiced: 0, skipped: 0 });
              started = true;
            }
            bar.setTotal(Math.max(p.total, p.done));
            bar.update(p.done, { invoiced: p.invoiced, skipped: p.skipped });
          },
        });
        if (started) bar?.stop();
        await tollgate.billing.runDunning();
        if (options.json) {
          console.log(JSON.stringify(summary, null, 2));
          return;
        }
        if (summary.locked) {
          console.log(pc.yellow('Another billing run holds the lock; nothing done.'));
          return;
        }
        console.log(
          `${pc.green('✓')} ${summary.subscriptions} subscription periods, ${pc.bold(String(summary.invoicesCreated))} invoices created, ${summary.alreadyInvoiced} already invoiced${summary.failed ? pc.red(`, ${summary.failed} failed`) : ''}`,
        );
      });
    });

  bill
    .command('dunning')
    .description('retry failed payments that are due, suspend subscriptions past the grace period')
    .action(async (_o, command: Command) => {
      await withTollgate(command, async (tollgate) => {
        const r = await tollgate.billing.runDunning();
        console.log(
          `${r.retried} payments retried, ${r.overdue} invoices overdue, ${r.suspended} subscriptions suspended`,
        );
      });
    });

  const invoices = program.command('invoices').description('list, show, issue, pay and void invoices');
  invoices
    .command('list')
    .description('list invoices, newest first')
    .option('--customer <id>', 'only this customer')
    .option('--status <status>', 'draft | issued | paid | void | uncollectible')
    .option('--limit <n>', 'how many', '50')
    .option('--json', 'print JSON')
    .action(
      async (
        options: { customer?: string; status?: Invoice['status']; limit: string; json?: boolean },
        command: Command,
      ) => {
        await withTollgate(command, async (tollgate) => {
          const list = await tollgate.billing.list({
            customerId: options.customer,
            status: options.status,
            limit: Number(options.limit),
          });
          if (options.json) console.log(JSON.stringify(list, null, 2));
          else if (list.length === 0) console.log(pc.dim('No invoices.'));
          else console.log(invoicesTable(list));
        });
      },
    );
  invoices
    .command('show <invoice>')
    .description('show an invoice by id or number (INV-000123)')
    .option('--json', 'print JSON')
    .option('--html', 'print the printable HTML page')
    .action(async (ref: string, options: { json?: boolean; html?: boolean }, command: Command) => {
      await withTollgate(command, async (tollgate) => {
        const invoice = await tollgate.billing.find(ref);
        if (options.json) console.log(JSON.stringify(invoice, null, 2));
        else if (options.html) {
          const customer = await tollgate.customers.get(invoice.customerId);
          const config = tollgate.runtime.config;
          const { renderInvoiceHtml } = await import('../billing/index.ts');
          console.log(
            renderInvoiceHtml(invoice, {
              sellerName: config.portal.branding.name ?? config.name,
              customerName: customer?.name ?? invoice.customerId,
              customerEmail: customer?.email ?? null,
              primaryColor: config.portal.branding.primaryColor,
            }),
          );
        } else printInvoice(invoice);
      });
    });
  for (const [name, description] of [
    ['issue', 'issue a draft (assigns its number, charges it on card rails)'],
    ['pay', 'mark an issued invoice paid (payment received outside the rail)'],
    ['void', 'void a draft or issued invoice'],
  ] as const) {
    invoices
      .command(`${name} <invoice>`)
      .description(description)
      .action(async (ref: string, _o, command: Command) => {
        await withTollgate(command, async (tollgate) => {
          const invoice = await tollgate.billing.find(ref);
          const done =
            name === 'issue'
              ? await tollgate.billing.issue(invoice.id)
              : name === 'pay'
                ? await tollgate.billing.markPaid(invoice.id)
                : await tollgate.billing.void(invoice.id);
          console.log(`${pc.green('✓')} ${done.number ?? done.id} is ${statusColour(done.status)}`);
        });
      });
  }

  registerCreditNoteCommands(invoices);

  const credits = program.command('credits').description('prepaid credit balances (a ledger)');
  credits
    .command('show')
    .requiredOption('--customer <id>', 'customer id')
    .option('--currency <code>', 'currency', 'USD')
    .option('--json', 'print JSON')
    .action(async (options: { customer: string; currency: string; json?: boolean }, command: Command) => {
      await withTollgate(command, async (tollgate) => {
        const ledger = await tollgate.billing.credits.ledger(options.customer, options.currency);
        const balance = await tollgate.billing.credits.balance(options.customer, options.currency);
        if (options.json) {
          console.log(JSON.stringify({ balance, ledger }, null, 2));
          return;
        }
        const table = createTable({
          head: ['when', 'kind', 'amount', 'expires', 'note'].map((h) => pc.bold(h)),
        });
        for (const e of ledger)
          table.push([
            e.createdAt,
            e.kind,
            { hAlign: 'right', content: e.amount },
            day(e.expiresAt),
            e.note ?? '',
          ]);
        console.log(table.toString());
        console.log(`balance ${pc.bold(`${balance} ${options.currency}`)}`);
      });
    });
  credits
    .command('grant')
    .description('grant credits (promotion), optionally expiring')
    .requiredOption('--customer <id>', 'customer id')
    .requiredOption('--amount <decimal>', 'e.g. 25.00')
    .option('--currency <code>', 'currency', 'USD')
    .option('--expires <iso>', 'expiry (ISO 8601)')
    .option('--note <text>', 'why')
    .action(
      async (
        options: { customer: string; amount: string; currency: string; expires?: string; note?: string },
        command: Command,
      ) => {
        await withTollgate(command, async (tollgate) => {
          const expiresAt = options.expires ? new Date(options.expires) : null;
          if (expiresAt && Number.isNaN(expiresAt.getTime()))
            throw problems.badRequest(`--expires must be ISO 8601, got "${options.expires}"`);
          await tollgate.billing.credits.grant({
            customerId: options.customer,
            currency: options.currency,
            amount: options.amount,
            expiresAt,
            note: options.note,
          });
          console.log(
            `${pc.green('✓')} balance ${await tollgate.billing.credits.balance(options.customer, options.currency)} ${options.currency}`,
          );
        });
      },
    );

  program
    .command('simulate')
    .description(
      're-rate a past period’s real usage under the plan as in the current config: revenue per customer before/after',
    )
    .requiredOption('--plan <key>', 'plan key from the current config')
    .requiredOption('--period <YYYY-MM>', 'billing periods that started in this month')
    .option('--coupon <code>', 'what if every customer also had this coupon (in "after")')
    .option('--json', 'print JSON')
    .action(
      async (
        options: { plan: string; period: string; coupon?: string; json?: boolean },
        command: Command,
      ) => {
        const { from, to } = monthRange(options.period);
        await withTollgate(command, async (tollgate) => {
          const rows = await tollgate.billing.simulate(options.plan, from, to, { coupon: options.coupon });
          if (options.json) {
            console.log(JSON.stringify(rows, null, 2));
            return;
          }
          if (rows.length === 0) {
            console.log(pc.dim(`No billing periods of plan "${options.plan}" started in ${options.period}.`));
            return;
          }
          const table = createTable({
            head: ['customer', 'period', 'before', 'after', 'change'].map((h) => pc.bold(h)),
          });
          let before = new Decimal(0);
          let after = new Decimal(0);
          const currency = rows[0]?.currency ?? 'USD';
          for (const r of rows) {
            const delta = new Decimal(r.after).sub(r.before);
            before = before.add(r.before);
            after = after.add(r.after);
            table.push([
              r.customerName,
              `${day(r.periodFrom)} → ${day(r.periodTo)}`,
              { hAlign: 'right', content: r.before },
              { hAlign: 'right', content: r.after },
              {
                hAlign: 'right',
                content: delta.isNeg()
                  ? pc.red(formatMoney(delta, currency))
                  : pc.green(`+${formatMoney(delta, currency)}`),
              },
            ]);
            // Each discount on its own line, as the invoice shows it.
            const descriptions = new Set(
              [...r.discountsBefore, ...r.discountsAfter].map((d) => d.description),
            );
            for (const description of descriptions) {
              const amount = (list: { description: string; amount: string }[]) =>
                list.find((d) => d.description === description)?.amount ?? '';
              table.push([
                pc.dim(`  ${description}`),
                '',
                { hAlign: 'right', content: pc.dim(amount(r.discountsBefore)) },
                { hAlign: 'right', content: pc.dim(amount(r.discountsAfter)) },
                '',
              ]);
            }
          }
          const total = after.sub(before);
          table.push([
            pc.bold('total'),
            `${rows.length} periods`,
            { hAlign: 'right', content: pc.bold(formatMoney(before, currency)) },
            { hAlign: 'right', content: pc.bold(formatMoney(after, currency)) },
            {
              hAlign: 'right',
              content: pc.bold(
                total.isNeg()
                  ? pc.red(formatMoney(total, currency))
                  : pc.green(`+${formatMoney(total, currency)}`),
              ),
            },
          ]);
          console.log(table.toString());
          console.log(pc.dim(`Amounts in ${currency}, after discounts, before tax. Nothing was changed.`));
        });
      },
    );
}
