import type { Command } from 'commander';
import pc from 'picocolors';
import type { Tollgate } from '../app.ts';
import {
  type ContractOverrides,
  type Customer,
  createBalanceReader,
  type Subscription,
} from '../subscriptions/index.ts';
import { withTollgate } from './context.ts';
import { CliError } from './errors.ts';
import { createTable } from './table.ts';

/**
 * `tollgate customers create|list|show|delete` and
 * `tollgate subscriptions list|show|create|change|cancel|resume|overrides` — the admin API's
 * operations from the terminal, each with `--json`.
 */
const when = (d: Date | null) => (d ? d.toISOString().replace('.000Z', 'Z') : pc.dim('—'));

function statusColour(status: Subscription['status']): string {
  if (status === 'active') return pc.green(status);
  if (status === 'trialing') return pc.cyan(status);
  if (status === 'past_due') return pc.yellow(status);
  return pc.red(status);
}

function parseJsonOption(name: string, value: string | undefined): Record<string, unknown> | undefined {
  if (value === undefined) return undefined;
  try {
    const parsed = JSON.parse(value) as unknown;
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed))
      return parsed as Record<string, unknown>;
  } catch {
    // fall through to the message below
  }
  throw new Error(`${name} must be a JSON object, e.g. '{"team":"data"}'`);
}

function customersTable(list: Customer[]): string {
  const table = createTable({ head: ['id', 'name', 'email', 'currency', 'created'].map((h) => pc.bold(h)) });
  for (const c of list) table.push([c.id, c.name, c.email ?? pc.dim('—'), c.currency, when(c.createdAt)]);
  return table.toString();
}

function subscriptionsTable(list: Subscription[]): string {
  const table = createTable({
    head: ['id', 'customer', 'plan', 'status', 'period', 'scheduled'].map((h) => pc.bold(h)),
  });
  for (const s of list) {
    const scheduled = s.cancelAtPeriodEnd
      ? pc.yellow('cancel at period end')
      : s.pendingChange
        ? pc.yellow(`→ ${s.pendingChange.planKey} v${s.pendingChange.version}`)
        : pc.dim('—');
    table.push([
      s.id,
      s.customerId,
      `${s.planKey} v${s.planVersion}`,
      statusColour(s.status),
      `${when(s.currentPeriod.from)} → ${when(s.currentPeriod.to)}`,
      scheduled,
    ]);
  }
  return table.toString();
}

async function showSubscription(tollgate: Tollgate, sub: Subscription): Promise<void> {
  console.log(subscriptionsTable([sub]));
  const segments = await tollgate.subscriptions.segments(sub.id);
  const table = createTable({ head: ['plan', 'from', 'to', 'reason'].map((h) => pc.bold(h)) });
  for (const s of segments)
    table.push([`${s.planKey} v${s.planVersion}`, when(s.from), when(s.to), s.reason]);
  console.log(pc.bold('\nPlan history'));
  console.log(table.toString());
  if (Object.keys(sub.overrides).length > 0)
    console.log(`${pc.bold('Contract overrides')} ${JSON.stringify(sub.overrides)}`);
}

const print = (json: boolean | undefined, value: unknown, human: () => void | Promise<void>) =>
  json ? console.log(JSON.stringify(value, null, 2)) : human();

async function requireSubscribablePlan(tollgate: Tollgate, planKey: string): Promise<void> {
  const plan = await tollgate.catalog.getPlan(planKey);
  if (plan && plan.status !== 'archived') return;
  const open = (await tollgate.catalog.listPlans()).filter((p) => p.status !== 'archived').map((p) => p.key);
  throw new CliError(
    `${plan ? `Plan "${planKey}" is archived` : `No plan "${planKey}"`}; nothing was created. ` +
      `Plans: ${open.join(', ') || 'none (tollgate plans push publishes the config)'}.`,
  );
}

export function registerCustomersCommands(program: Command): void {
  const customers = program.command('customers').description('create, list, show and delete customers');

  customers
    .command('create')
    .description('create a customer (optionally subscribed to a plan)')
    .requiredOption('--name <name>', 'organisation name')
    .option('--email <email>', 'billing email')
    .option('--id <id>', 'your own id for the customer (default: generated)')
    .option('--currency <code>', 'ISO 4217 currency', 'USD')
    .option('--metadata <json>', 'JSON object kept with the customer')
    .option('--plan <plan>', 'subscribe to this plan at once')
    .option('--json', 'print JSON')
    .action(async (opts: Record<string, string | boolean | undefined>, command: Command) => {
      const metadata = parseJsonOption('--metadata', opts.metadata as string | undefined);
      await withTollgate(command, async (tollgate) => {
        // A plan that cannot be subscribed to is refused before the customer exists, so a typo
        // does not leave a customer without a plan behind (and a duplicate on the next try).
        if (typeof opts.plan === 'string') await requireSubscribablePlan(tollgate, opts.plan);
        const customer = await tollgate.customers.create({
          id: opts.id as string | undefined,
          name: String(opts.name),
          email: opts.email as string | undefined,
          currency: opts.currency as string | undefined,
          metadata,
        });
        const subscription =
          typeof opts.plan === 'string'
            ? await tollgate.subscriptions.subscribe({ customerId: customer.id, planKey: opts.plan })
            : null;
        print(Boolean(opts.json), { ...customer, subscription }, () => {
          console.log(customersTable([customer]));
          if (subscription) console.log(subscriptionsTable([subscription]));
          console.log(
            pc.dim(
              subscription
                ? `Next: npx tollgate keys create --customer ${customer.id}`
                : `Next: npx tollgate subscriptions create --customer ${customer.id} --plan <plan>, then npx tollgate keys create --customer ${customer.id}`,
            ),
          );
        });
      });
    });

  customers
    .command('list')
    .description('customers, newest first')
    .option('--search <text>', 'name, email or id')
    .option('--limit <n>', 'how many', '100')
    .option('--json', 'print JSON')
    .action(async (opts: { search?: string; limit: string; json?: boolean }, command: Command) => {
      await withTollgate(command, async (tollgate) => {
        const list = await tollgate.customers.list({ search: opts.search, limit: Number(opts.limit) || 100 });
        print(opts.json, list, () =>
          console.log(list.length ? customersTable(list) : pc.dim('No customers.')),
        );
      });
    });

  customers
    .command('show <id>')
    .description('a customer, its subscription and entitlement balances')
    .option('--json', 'print JSON')
    .action(async (id: string, opts: { json?: boolean }, command: Command) => {
      await withTollgate(command, async (tollgate) => {
        const customer = await tollgate.customers.require(id);
        const subs = await tollgate.subscriptions.list({ customerId: id });
        const balances = await createBalanceReader({
          access: tollgate.access,
          catalog: tollgate.catalog,
          customers: tollgate.customers,
          clock: tollgate.runtime.clock,
        })(id);
        print(opts.json, { ...customer, subscriptions: subs, entitlements: balances }, () => {
          console.log(customersTable([customer]));
          if (subs.length) console.log(subscriptionsTable(subs));
          else console.log(pc.dim('No subscription.'));
          if (balances.balances.length) {
            const table = createTable({
              head: ['feature', 'type', 'limit', 'used', 'remaining', 'resets'].map((h) => pc.bold(h)),
            });
            for (const b of balances.balances) {
              table.push([
                b.featureKey,
                b.type,
                b.limit === null ? pc.dim('unlimited') : `${b.limit}${b.softLimit ? ' (soft)' : ''}`,
                b.usage === null ? pc.dim('—') : String(b.usage),
                b.remaining === null ? pc.dim('—') : String(b.remaining),
                b.resetAt ?? pc.dim('—'),
              ]);
            }
            console.log(table.toString());
          }
        });
      });
    });

  customers
    .command('delete <id>')
    .description('delete a customer (refused while it has a live subscription)')
    .option('--json', 'print JSON')
    .action(async (id: string, opts: { json?: boolean }, command: Command) => {
      await withTollgate(command, async (tollgate) => {
        const customer = await tollgate.customers.delete(id);
        print(opts.json, customer, () => console.log(pc.green(`Deleted customer ${customer.id}.`)));
      });
    });

  const subscriptions = program
    .command('subscriptions')
    .description('subscribe, change plan, cancel, resume and set contract overrides');

  subscriptions
    .command('list')
    .option('--customer <id>', 'only this customer')
    .option('--plan <plan>', 'only this plan')
    .option('--status <status>', 'trialing|active|past_due|suspended|canceled')
    .option('--json', 'print JSON')
    .action(
      async (
        opts: { customer?: string; plan?: string; status?: string; json?: boolean },
        command: Command,
      ) => {
        const statuses = ['trialing', 'active', 'past_due', 'suspended', 'canceled'] as const;
        const status = opts.status as (typeof statuses)[number] | undefined;
        if (status !== undefined && !statuses.includes(status)) {
          throw new Error(`--status must be one of ${statuses.join(', ')}`);
        }
        await withTollgate(command, async (tollgate) => {
          const list = await tollgate.subscriptions.list({
            customerId: opts.customer,
            planKey: opts.plan,
            status,
          });
          print(opts.json, list, () =>
            console.log(list.length ? subscriptionsTable(list) : pc.dim('No subscriptions.')),
          );
        });
      },
    );

  subscriptions
    .command('show <id>')
    .description('a subscription with its plan history')
    .option('--json', 'print JSON')
    .action(async (id: string, opts: { json?: boolean }, command: Command) => {
      await withTollgate(command, async (tollgate) => {
        const sub = await tollgate.subscriptions.require(id);
        const segments = await tollgate.subscriptions.segments(id);
        print(opts.json, { ...sub, segments }, () => showSubscription(tollgate, sub));
      });
    });

  subscriptions
    .command('create')
    .description('subscribe a customer to a plan (with its trial, if any)')
    .requiredOption('--customer <id>', 'customer id')
    .requiredOption('--plan <plan>', 'plan key')
    .option('--version <n>', 'plan version (default: latest)')
    .option('--no-trial', 'skip the trial phase')
    .option('--overrides <json>', 'contract overrides, e.g. \'{"rateCards":{"requests":{"limit":5000000}}}\'')
    .option('--json', 'print JSON')
    .action(async (opts: Record<string, string | boolean | undefined>, command: Command) => {
      const overrides = parseJsonOption('--overrides', opts.overrides as string | undefined);
      await withTollgate(command, async (tollgate) => {
        const sub = await tollgate.subscriptions.subscribe({
          customerId: String(opts.customer),
          planKey: String(opts.plan),
          version: opts.version ? Number(opts.version) : undefined,
          trial: opts.trial !== false,
          overrides: overrides as ContractOverrides | undefined,
        });
        print(Boolean(opts.json), sub, () => console.log(subscriptionsTable([sub])));
      });
    });

  subscriptions
    .command('change <id>')
    .description('change plan: now (upgrade, prorated by second) or at the period end (downgrade)')
    .requiredOption('--plan <plan>', 'new plan key')
    .option('--version <n>', 'plan version (default: latest)')
    .option('--at-period-end', 'schedule the change for the end of the current period')
    .option('--json', 'print JSON')
    .action(async (id: string, opts: Record<string, string | boolean | undefined>, command: Command) => {
      await withTollgate(command, async (tollgate) => {
        const sub = await tollgate.subscriptions.changePlan(id, {
          planKey: String(opts.plan),
          version: opts.version ? Number(opts.version) : undefined,
          timing: opts.atPeriodEnd ? 'period_end' : 'now',
        });
        print(Boolean(opts.json), sub, () => console.log(subscriptionsTable([sub])));
      });
    });

  subscriptions
    .command('cancel <id>')
    .description('cancel at the period end (default) or now (its keys stop working at once)')
    .option('--now', 'cancel immediately')
    .option('--json', 'print JSON')
    .action(async (id: string, opts: { now?: boolean; json?: boolean }, command: Command) => {
      await withTollgate(command, async (tollgate) => {
        const sub = await tollgate.subscriptions.cancel(id, { timing: opts.now ? 'now' : 'period_end' });
        print(opts.json, sub, () => console.log(subscriptionsTable([sub])));
      });
    });

  subscriptions
    .command('resume <id>')
    .description('undo a cancel scheduled for the period end')
    .option('--json', 'print JSON')
    .action(async (id: string, opts: { json?: boolean }, command: Command) => {
      await withTollgate(command, async (tollgate) => {
        const sub = await tollgate.subscriptions.resume(id);
        print(opts.json, sub, () => console.log(subscriptionsTable([sub])));
      });
    });

  subscriptions
    .command('overrides <id>')
    .description('set the contract overrides (custom limits and prices) of a subscription')
    .requiredOption(
      '--set <json>',
      'e.g. \'{"rateLimit":{"limit":5000,"window":"1m"},"rateCards":{"requests":{"limit":null}}}\'',
    )
    .option('--json', 'print JSON')
    .action(async (id: string, opts: { set: string; json?: boolean }, command: Command) => {
      const overrides = parseJsonOption('--set', opts.set);
      await withTollgate(command, async (tollgate) => {
        const sub = await tollgate.subscriptions.setOverrides(id, overrides as ContractOverrides);
        print(opts.json, sub, () => showSubscription(tollgate, sub));
      });
    });
}
