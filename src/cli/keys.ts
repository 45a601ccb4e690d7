import type { Command } from 'commander';
import pc from 'picocolors';
import type { ApiKey } from '../keys/index.ts';
import { withTollgate } from './context.ts';
import { CliError } from './errors.ts';
import { createTable } from './table.ts';

/** `tollgate keys create|list|roll|revoke`: the secret is printed once, at create and roll. */
function statusColour(status: ApiKey['status']): string {
  if (status === 'active') return pc.green(status);
  if (status === 'expired') return pc.yellow(status);
  return pc.red(status);
}

const when = (d: Date | null) => (d ? d.toISOString().replace('.000Z', 'Z') : pc.dim('—'));

function keysTable(keys: ApiKey[]): string {
  const table = createTable({
    head: ['id', 'prefix', 'name', 'status', 'subscription', 'created', 'expires', 'last used'].map((h) =>
      pc.bold(h),
    ),
  });
  for (const k of keys) {
    table.push([
      k.id,
      `${k.prefix}…`,
      k.name || pc.dim('—'),
      statusColour(k.status),
      k.subscriptionId ?? pc.dim('—'),
      when(k.createdAt),
      when(k.expiresAt),
      when(k.lastUsedAt),
    ]);
  }
  return table.toString();
}

function parseDate(value: string): Date {
  const date = new Date(value);
  if (Number.isNaN(date.getTime()))
    throw new Error(`--expires must be an ISO 8601 time such as 2027-01-01T00:00:00Z, got "${value}"`);
  return date;
}

function printSecret(secret: string): void {
  console.log(`\n  ${pc.bold(pc.cyan(secret))}\n`);
  console.log(pc.yellow('  Store this key now: it is shown only once (only its hash is kept).'));
}

export function registerKeysCommands(program: Command): void {
  const keys = program.command('keys').description('create, list, roll and revoke API keys');

  keys
    .command('create')
    .description('create an API key for a customer (the secret is printed once)')
    .requiredOption('--customer <id>', 'customer id')
    .option('--subscription <id>', 'subscription the key is tied to')
    .option('--name <name>', 'a label for the key', '')
    .option('--expires <iso>', 'when the key stops working (ISO 8601)')
    .option('--metadata <json>', 'JSON object kept with the key')
    .option('--json', 'print JSON')
    .action(async (opts: Record<string, string | boolean | undefined>, command: Command) => {
      const expiresAt = typeof opts.expires === 'string' ? parseDate(opts.expires) : null;
      let metadata: Record<string, unknown> | undefined;
      if (typeof opts.metadata === 'string') {
        try {
          metadata = JSON.parse(opts.metadata) as Record<string, unknown>;
        } catch {
          throw new Error('--metadata must be a JSON object, e.g. \'{"team":"data"}\'');
        }
      }
      await withTollgate(command, async (tollgate) => {
        const customerId = String(opts.customer);
        const subscriptionId = typeof opts.subscription === 'string' ? opts.subscription : null;
        // As POST /api/admin/keys checks: a key for nobody would pass the gateway's key check and
        // meter usage that no invoice can ever carry.
        if (!(await tollgate.customers.get(customerId)))
          throw new CliError(
            `No customer "${customerId}": nothing created. Create it first with \`npx tollgate customers create --id ${customerId} --name <name>\`, or see \`npx tollgate customers list\`.`,
          );
        if (subscriptionId !== null) {
          const sub = await tollgate.subscriptions.get(subscriptionId);
          if (!sub || sub.customerId !== customerId)
            throw new CliError(
              `No subscription "${subscriptionId}" for customer "${customerId}": nothing created.`,
            );
        }
        const created = await tollgate.keys.create({
          customerId,
          subscriptionId,
          name: typeof opts.name === 'string' ? opts.name : '',
          expiresAt,
          metadata,
        });
        if (opts.json) {
          console.log(JSON.stringify({ ...created.key, secret: created.secret }, null, 2));
          return;
        }
        console.log(
          `${pc.green('Created')} key ${pc.bold(created.key.id)} for customer ${created.key.customerId}`,
        );
        printSecret(created.secret);
      });
    });

  keys
    .command('list')
    .description("list a customer's keys")
    .requiredOption('--customer <id>', 'customer id')
    .option('--json', 'print JSON')
    .action(async (opts: { customer: string; json?: boolean }, command: Command) => {
      await withTollgate(command, async (tollgate) => {
        const list = await tollgate.keys.list(opts.customer);
        if (opts.json) {
          console.log(JSON.stringify(list, null, 2));
          return;
        }
        if (list.length === 0) {
          console.log(pc.dim(`No keys for customer ${opts.customer}.`));
          return;
        }
        console.log(keysTable(list));
      });
    });

  keys
    .command('roll <id>')
    .description('issue a successor key; the old one keeps working for keys.rollGracePeriod')
    .option('--json', 'print JSON')
    .action(async (id: string, opts: { json?: boolean }, command: Command) => {
      await withTollgate(command, async (tollgate) => {
        const rolled = await tollgate.keys.roll(id);
        if (opts.json) {
          console.log(
            JSON.stringify({ ...rolled.key, secret: rolled.secret, previous: rolled.previous }, null, 2),
          );
          return;
        }
        console.log(`${pc.green('Rolled')} ${id} → ${pc.bold(rolled.key.id)}`);
        console.log(`  ${id} keeps working until ${when(rolled.previous.expiresAt)}`);
        printSecret(rolled.secret);
      });
    });

  keys
    .command('revoke <id>')
    .description('turn a key off now')
    .option('--json', 'print JSON')
    .action(async (id: string, opts: { json?: boolean }, command: Command) => {
      await withTollgate(command, async (tollgate) => {
        const revoked = await tollgate.keys.revoke(id);
        if (opts.json) {
          console.log(JSON.stringify(revoked, null, 2));
          return;
        }
        console.log(
          `${pc.red('Revoked')} ${pc.bold(revoked.id)} (${revoked.prefix}…) at ${when(revoked.revokedAt)}`,
        );
      });
    });
}
