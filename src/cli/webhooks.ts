import type { Command } from 'commander';
import pc from 'picocolors';
import { WEBHOOK_EVENT_DESCRIPTIONS, WEBHOOK_EVENT_TYPES } from '../notify/event-types.ts';
import type { Delivery, WebhookEndpoint } from '../notify/index.ts';
import { withTollgate } from './context.ts';
import { createTable } from './table.ts';

/**
 * `tollgate webhooks endpoints|create|update|disable|enable|delete|rotate-secret|test|deliveries|
 * show|replay|event-types` — the admin API's webhook operations from the terminal, each with
 * `--json`. Deliveries are queued here and sent by the running server's workers.
 */
const print = (json: boolean | undefined, value: unknown, human: () => void) =>
  json ? console.log(JSON.stringify(value, null, 2)) : human();

function endpointsTable(list: WebhookEndpoint[]): string {
  const table = createTable({ head: ['id', 'url', 'events', 'state', 'customer'].map((h) => pc.bold(h)) });
  for (const e of list)
    table.push([
      e.id,
      e.url,
      e.eventTypes.length ? e.eventTypes.join(', ') : pc.dim('all'),
      e.enabled ? pc.green('enabled') : pc.red(`disabled: ${e.disabledReason ?? ''}`),
      e.customerId ?? pc.dim('—'),
    ]);
  return table.toString();
}

function deliveriesTable(list: Delivery[]): string {
  const table = createTable({
    head: ['id', 'endpoint', 'type', 'status', 'attempts', 'last', 'next', 'created'].map((h) => pc.bold(h)),
  });
  const colour = (s: Delivery['status']) =>
    s === 'succeeded' ? pc.green(s) : s === 'failed' ? pc.red(s) : pc.yellow(s);
  for (const d of list)
    table.push([
      d.id,
      d.endpointId,
      d.type,
      colour(d.status),
      String(d.attempts),
      d.lastStatusCode ? String(d.lastStatusCode) : (d.lastError ?? pc.dim('—')),
      d.nextAttemptAt ?? pc.dim('—'),
      d.createdAt,
    ]);
  return table.toString();
}

const list = (value: string) =>
  value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

function instant(name: string, value: string): Date {
  const at = new Date(value);
  if (Number.isNaN(at.getTime()))
    throw new Error(`${name} must be an ISO 8601 time, e.g. 2026-12-01T00:00:00Z`);
  return at;
}

export function registerWebhooksCommands(program: Command): void {
  const webhooks = program
    .command('webhooks')
    .description('webhook endpoints, the delivery log, replays and test events');

  webhooks
    .command('event-types')
    .description('every event type Tollgate sends')
    .option('--json', 'print JSON')
    .action((opts: { json?: boolean }) => {
      const types = WEBHOOK_EVENT_TYPES.map((type) => ({
        type,
        description: WEBHOOK_EVENT_DESCRIPTIONS[type],
      }));
      print(opts.json, types, () => {
        for (const t of types) console.log(`${pc.bold(t.type.padEnd(32))} ${t.description}`);
      });
    });

  webhooks
    .command('endpoints')
    .description('list endpoints (secrets are never shown again)')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }, command: Command) => {
      await withTollgate(command, async (t) => {
        const endpoints = await t.webhooks.listEndpoints();
        print(opts.json, endpoints, () =>
          console.log(endpoints.length ? endpointsTable(endpoints) : pc.dim('No endpoints.')),
        );
      });
    });

  webhooks
    .command('create <url>')
    .description('register an endpoint; prints its signing secret once')
    .option('--events <types>', 'comma-separated event types or prefix.* (default: all)')
    .option('--description <text>', 'what it is for')
    .option('--json', 'print JSON')
    .action(
      async (
        url: string,
        opts: { events?: string; description?: string; json?: boolean },
        command: Command,
      ) => {
        await withTollgate(command, async (t) => {
          const endpoint = await t.webhooks.createEndpoint({
            url,
            eventTypes: opts.events ? list(opts.events) : [],
            description: opts.description,
          });
          print(opts.json, endpoint, () => {
            console.log(endpointsTable([endpoint]));
            console.log(
              `${pc.bold('Signing secret')} ${endpoint.secret}  ${pc.dim('(shown once: store it now)')}`,
            );
          });
        });
      },
    );

  webhooks
    .command('update <id>')
    .description("change an endpoint's URL, event types or description")
    .option('--url <url>', 'new URL')
    .option('--events <types>', 'comma-separated event types or prefix.* ("" = all)')
    .option('--description <text>', 'what it is for')
    .option('--json', 'print JSON')
    .action(
      async (
        id: string,
        opts: { url?: string; events?: string; description?: string; json?: boolean },
        command: Command,
      ) => {
        await withTollgate(command, async (t) => {
          const endpoint = await t.webhooks.updateEndpoint(id, {
            url: opts.url,
            eventTypes: opts.events === undefined ? undefined : list(opts.events),
            description: opts.description,
          });
          print(opts.json, endpoint, () => console.log(endpointsTable([endpoint])));
        });
      },
    );

  for (const [name, enabled] of [
    ['disable', false],
    ['enable', true],
  ] as const) {
    webhooks
      .command(`${name} <id>`)
      .description(
        enabled ? 'deliver again (pending deliveries resume)' : 'stop delivering (pending deliveries wait)',
      )
      .option('--json', 'print JSON')
      .action(async (id: string, opts: { json?: boolean }, command: Command) => {
        await withTollgate(command, async (t) => {
          const endpoint = await t.webhooks.setEnabled(id, enabled);
          print(opts.json, endpoint, () => console.log(endpointsTable([endpoint])));
        });
      });
  }

  webhooks
    .command('delete <id>')
    .description('delete an endpoint and its delivery log')
    .action(async (id: string, _opts: unknown, command: Command) => {
      await withTollgate(command, async (t) => {
        await t.webhooks.deleteEndpoint(id);
        console.log(`Deleted ${id}.`);
      });
    });

  webhooks
    .command('rotate-secret <id>')
    .description('a new signing secret; the old one also signs until the overlap ends')
    .option('--overlap <seconds>', 'how long both secrets sign (at most 604800)', '86400')
    .option('--json', 'print JSON')
    .action(async (id: string, opts: { overlap: string; json?: boolean }, command: Command) => {
      const seconds = Number(opts.overlap);
      if (!Number.isInteger(seconds)) throw new Error('--overlap must be a whole number of seconds');
      await withTollgate(command, async (t) => {
        const rotated = await t.webhooks.rotateSecret(id, { overlapMs: seconds * 1000 });
        print(opts.json, rotated, () =>
          console.log(
            `${pc.bold('New signing secret')} ${rotated.secret}\nThe old secret signs too until ${rotated.previousSecretExpiresAt}.`,
          ),
        );
      });
    });

  webhooks
    .command('test <id>')
    .description('queue a webhook.test event to one endpoint')
    .action(async (id: string, _opts: unknown, command: Command) => {
      await withTollgate(command, async (t) => {
        console.log(`Queued ${await t.webhooks.sendTest(id)}.`);
      });
    });

  webhooks
    .command('deliveries')
    .description('the delivery log, newest first')
    .option('--endpoint <id>', 'one endpoint')
    .option('--status <status>', 'pending, succeeded or failed')
    .option('--before <delivery id>', 'the page after this delivery')
    .option('--limit <n>', 'how many', '50')
    .option('--json', 'print JSON')
    .action(
      async (
        opts: { endpoint?: string; status?: string; before?: string; limit: string; json?: boolean },
        command: Command,
      ) => {
        if (opts.status && !['pending', 'succeeded', 'failed'].includes(opts.status))
          throw new Error('--status must be pending, succeeded or failed');
        await withTollgate(command, async (t) => {
          const limit = Number(opts.limit) || 50;
          const page = await t.webhooks.deliveries({
            endpointId: opts.endpoint,
            status: opts.status as Delivery['status'] | undefined,
            before: opts.before,
            limit,
          });
          print(opts.json, page, () => {
            console.log(page.length ? deliveriesTable(page) : pc.dim('No deliveries.'));
            if (page.length === limit) console.log(pc.dim(`Next page: --before ${page.at(-1)?.id}`));
          });
        });
      },
    );

  webhooks
    .command('show <delivery>')
    .description('one delivery with every attempt')
    .option('--json', 'print JSON')
    .action(async (id: string, opts: { json?: boolean }, command: Command) => {
      await withTollgate(command, async (t) => {
        const [delivery] = await t.webhooks.deliveries({ id });
        if (!delivery) throw new Error(`No delivery ${id}.`);
        const attempts = await t.webhooks.attempts(id);
        print(opts.json, { ...delivery, attemptLog: attempts }, () => {
          console.log(deliveriesTable([delivery]));
          const table = createTable({ head: ['at', 'status', 'error', 'ms'].map((h) => pc.bold(h)) });
          for (const a of attempts)
            table.push([
              a.attemptedAt,
              a.statusCode ?? pc.dim('—'),
              a.error ?? pc.dim('—'),
              String(a.durationMs),
            ]);
          console.log(table.toString());
        });
      });
    });

  webhooks
    .command('replay [delivery]')
    .description("attempt one delivery again, or an endpoint's deliveries created in [--from, --to)")
    .option('--endpoint <id>', 'with --from/--to: the endpoint whose deliveries to replay')
    .option('--from <time>', 'ISO 8601, inclusive')
    .option('--to <time>', 'ISO 8601, exclusive (default: now)')
    .option('--status <status>', 'only deliveries of this status (e.g. failed)')
    .action(
      async (
        delivery: string | undefined,
        opts: { endpoint?: string; from?: string; to?: string; status?: string },
        command: Command,
      ) => {
        if (!delivery && !(opts.endpoint && opts.from))
          throw new Error('give a delivery id, or --endpoint with --from (and --to)');
        await withTollgate(command, async (t) => {
          if (delivery) {
            const replayed = await t.webhooks.replay(delivery);
            console.log(`Queued ${replayed.id} again.`);
            return;
          }
          const count = await t.webhooks.replayRange({
            endpointId: opts.endpoint as string,
            from: instant('--from', opts.from as string),
            to: opts.to ? instant('--to', opts.to) : new Date(),
            status: opts.status as Delivery['status'] | undefined,
          });
          console.log(`Queued ${count} deliveries again.`);
        });
      },
    );
}
