import type { Command } from 'commander';
import pc from 'picocolors';
import {
  type CatalogSyncResult,
  describeEntitlement,
  describePrice,
  describeRateLimit,
  type PlanChange,
  type PlanSyncItem,
  type PlanVersion,
} from '../catalog/index.ts';
import { withTollgate } from './context.ts';
import { createTable } from './table.ts';

/**
 * `tollgate plans list|show|diff|push|migrate`. Plans live in tollgate.config.ts; push publishes
 * a new version of each changed plan (its subscribers stay on their version until migrated).
 */
function changeLine(change: PlanChange): string {
  switch (change.kind) {
    case 'added':
      return pc.green(`    + ${change.path}: ${change.after}`);
    case 'removed':
      return pc.red(`    - ${change.path}: ${change.before}`);
    case 'changed':
      return pc.yellow(`    ~ ${change.path}: ${change.before} → ${change.after}`);
  }
}

function planHeadline(item: PlanSyncItem, applied: boolean): string {
  const subs = item.subscribers === 1 ? '1 subscriber' : `${item.subscribers} subscribers`;
  const stay = item.subscribers === 1 ? 'stays' : 'stay';
  const will = (text: string, done: string) => (applied ? done : text);
  switch (item.action) {
    case 'create':
      return `${pc.green('+')} ${pc.bold(item.key)} ${will('new plan: would publish v1', 'published v1 (new plan)')}`;
    case 'publish':
      return `${pc.yellow('~')} ${pc.bold(item.key)} ${will(`changed: would publish v${item.toVersion}`, `published v${item.toVersion}`)}${
        item.subscribers > 0
          ? pc.dim(
              ` — ${subs} ${stay} on v${item.fromVersion} or older until migrated (tollgate plans migrate ${item.key})`,
            )
          : ''
      }`;
    case 'restore':
      return `${pc.green('↺')} ${pc.bold(item.key)} ${will('back in the config: would be restored', 'restored')}${
        item.toVersion !== item.fromVersion ? ` ${will('and publish', 'with')} v${item.toVersion}` : ''
      }`;
    case 'archive':
      return `${pc.red('-')} ${pc.bold(item.key)} ${will('removed from the config: would be ARCHIVED, not deleted', 'ARCHIVED, not deleted')} — ${subs} ${item.subscribers === 1 ? 'keeps' : 'keep'} it; new subscriptions are refused`;
    case 'delete':
      return `${pc.red('-')} ${pc.bold(item.key)} ${will('removed from the config: would be deleted (never subscribed)', 'deleted (never subscribed)')}`;
    case 'unchanged':
      return `${pc.dim('=')} ${pc.bold(item.key)} ${pc.dim(`unchanged (v${item.fromVersion})`)}`;
  }
}

function printSync(result: CatalogSyncResult, applied: boolean): void {
  const { features } = result;
  for (const key of features.added) console.log(`${pc.green('+')} feature ${pc.bold(key)}`);
  for (const key of features.changed) console.log(`${pc.yellow('~')} feature ${pc.bold(key)}`);
  for (const key of features.archived)
    console.log(
      `${pc.red('-')} feature ${pc.bold(key)} ${pc.dim('archived (old plan versions may still use it)')}`,
    );
  for (const item of result.plans) {
    console.log(planHeadline(item, applied));
    if (item.action !== 'create') for (const change of item.changes) console.log(changeLine(change));
  }
  if (!result.changed) console.log(pc.green('The catalog matches the config: nothing to publish.'));
  else if (!applied) console.log(pc.dim('\nRun `npx tollgate plans push` to publish.'));
}

function printVersion(version: PlanVersion): void {
  const d = version.definition;
  console.log(
    `${pc.bold(d.name)} ${pc.dim(`(${d.key} v${version.version}, ${d.currency}, every ${d.billingCadence}${d.public ? '' : ', private'})`)}`,
  );
  if (d.description) console.log(d.description);
  if (d.rateLimit) console.log(`rate limit: ${describeRateLimit(d.rateLimit)}`);
  for (const phase of d.phases) {
    console.log(
      `\n${pc.bold(`phase ${phase.key}`)}${phase.trial ? pc.cyan(' (trial)') : ''} ${pc.dim(phase.duration ?? 'until the end')}`,
    );
    const table = createTable({
      head: ['rate card', 'feature', 'price', 'entitlement'].map((h) => pc.bold(h)),
    });
    for (const rc of phase.rateCards) {
      table.push([
        rc.key,
        rc.feature ?? pc.dim('—'),
        describePrice(rc.price),
        describeEntitlement(rc.entitlement),
      ]);
    }
    console.log(table.toString());
  }
}

export function registerPlansCommands(program: Command): void {
  const plans = program.command('plans').description('list, diff, push and migrate versioned plans');

  plans
    .command('list')
    .description('plans in the catalog with their latest version and subscribers')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }, command: Command) => {
      await withTollgate(command, async ({ catalog }) => {
        const counts = await catalog.subscriberCounts();
        const list = await catalog.listPlans();
        if (opts.json) {
          console.log(
            JSON.stringify(
              list.map((p) => ({ ...p, subscribers: counts.get(p.key) ?? 0 })),
              null,
              2,
            ),
          );
          return;
        }
        const table = createTable({
          head: ['plan', 'name', 'status', 'latest', 'subscribers'].map((h) => pc.bold(h)),
        });
        for (const p of list) {
          table.push([
            p.key,
            p.name,
            p.status === 'active' ? pc.green(p.status) : pc.yellow(p.status),
            `v${p.latestVersion}`,
            String(counts.get(p.key) ?? 0),
          ]);
        }
        console.log(table.toString());
        if (list.length === 0) console.log(pc.dim('No plans yet: run `npx tollgate plans push`.'));
      });
    });

  plans
    .command('show <plan>')
    .description("a plan version's phases and rate cards (default: the latest)")
    .option('--version <n>', 'version number')
    .option('--json', 'print JSON')
    .action(async (planKey: string, opts: { version?: string; json?: boolean }, command: Command) => {
      await withTollgate(command, async ({ catalog }) => {
        const version = opts.version
          ? await catalog.getPlanVersion(planKey, Number(opts.version))
          : await catalog.getLatestPlanVersion(planKey);
        if (!version)
          throw new Error(`No plan "${planKey}"${opts.version ? ` version ${opts.version}` : ''}.`);
        if (opts.json) console.log(JSON.stringify(version, null, 2));
        else printVersion(version);
      });
    });

  plans
    .command('diff')
    .description('what `plans push` would publish: per plan, rate card, price and limit')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }, command: Command) => {
      await withTollgate(command, async ({ catalog, runtime }) => {
        const result = await catalog.preview(runtime.config);
        if (opts.json) console.log(JSON.stringify(result, null, 2));
        else printSync(result, false);
      });
    });

  plans
    .command('push')
    .description('publish the config: changed plans get a new version; subscribers keep theirs')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }, command: Command) => {
      await withTollgate(command, async ({ catalog, runtime }) => {
        const result = await catalog.sync(runtime.config);
        if (opts.json) console.log(JSON.stringify(result, null, 2));
        else printSync(result, true);
      });
    });

  plans
    .command('migrate <plan>')
    .description("move the plan's subscribers on older versions to a newer one (default: the latest)")
    .option('--to-version <n>', 'target version')
    .option('--customer <id>', 'only this customer')
    .option('--json', 'print JSON')
    .action(
      async (
        planKey: string,
        opts: { toVersion?: string; customer?: string; json?: boolean },
        command: Command,
      ) => {
        const toVersion = opts.toVersion === undefined ? undefined : Number(opts.toVersion);
        if (toVersion !== undefined && (!Number.isInteger(toVersion) || toVersion < 1)) {
          throw new Error(`--to-version must be a version number such as 2, got "${opts.toVersion}"`);
        }
        await withTollgate(command, async ({ subscriptions }) => {
          const result = await subscriptions.migratePlan(planKey, { toVersion, customerId: opts.customer });
          if (opts.json) {
            console.log(
              JSON.stringify(
                {
                  plan: planKey,
                  toVersion: result.toVersion,
                  migrated: result.migrated.map((s) => ({ id: s.id, customerId: s.customerId })),
                },
                null,
                2,
              ),
            );
            return;
          }
          if (result.migrated.length === 0) {
            console.log(
              pc.green(`No subscriber of ${planKey} is on a version older than v${result.toVersion}.`),
            );
            return;
          }
          for (const s of result.migrated)
            console.log(`${pc.green('→')} ${s.id} (${s.customerId}) now on v${result.toVersion}`);
          console.log(
            pc.bold(`${result.migrated.length} subscription(s) migrated to ${planKey} v${result.toVersion}.`),
          );
        });
      },
    );
}
