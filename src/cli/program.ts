import { Command } from 'commander';
import { registerBillingCommands } from './bill.ts';
import { registerCouponCommands } from './coupons.ts';
import { registerCustomersCommands } from './customers.ts';
import { DATA_DIR_HELP } from './data-dir.ts';
import { CliError } from './errors.ts';
import { inProcessRun } from './in-process.ts';
import { registerInitCommand } from './init.ts';
import { registerKeysCommands } from './keys.ts';
import { registerPlansCommands } from './plans.ts';
import type { ProgramOutput } from './program-output.ts';
import { forwardToRunningServer, runsLocallyOnly } from './remote.ts';
import { registerServerCommands } from './server.ts';
import { registerUsageCommands } from './usage.ts';
import { registerWebhooksCommands } from './webhooks.ts';

/**
 * Every `tollgate` sub-command, in help order. A module adds its commands with one
 * `register…Commands(program)` function and one line here.
 */
const COMMANDS: ((program: Command) => void)[] = [
  registerInitCommand,
  (program) => registerServerCommands(program, createProgram),
  registerKeysCommands,
  registerUsageCommands,
  registerPlansCommands,
  registerCustomersCommands,
  registerBillingCommands,
  registerCouponCommands,
  registerWebhooksCommands,
];

/**
 * The `tollgate` program. With `output` (a command run inside a server for another process), it
 * writes there and throws instead of exiting.
 */
export function createProgram(output?: ProgramOutput): Command {
  const program = new Command('tollgate')
    .description('API monetization: gateway, metering, plans, billing and developer portal')
    .option('-c, --config <file>', 'config file', 'tollgate.config.ts')
    .option(
      '--database <url>',
      'postgres://… (env TOLLGATE_DATABASE_URL; default: the embedded store in the data directory)',
      process.env.TOLLGATE_DATABASE_URL,
    )
    .option('--data-dir <dir>', DATA_DIR_HELP, process.env.TOLLGATE_DATA_DIR)
    .option(
      '--redis <url>',
      'redis://… for rate limits and quotas (scale-out)',
      process.env.TOLLGATE_REDIS_URL,
    )
    .option('--nats <url>', 'nats://… for the usage stream (scale-out)', process.env.TOLLGATE_NATS_URL)
    .showHelpAfterError()
    .addHelpText(
      'after',
      '\nWhile `tollgate dev` or `tollgate start` runs on the embedded store, the other commands are run by\nthat process (found through <data dir>/server.json, authenticated with its admin token).',
    );
  if (output) program.exitOverride().configureOutput(output);
  program.hook('preAction', async (_program, actionCommand) => {
    if (inProcessRun() && runsLocallyOnly(actionCommand)) {
      throw new CliError(
        `\`tollgate ${actionCommand.name()}\` cannot run inside a running server; stop it first.`,
      );
    }
    await forwardToRunningServer(actionCommand);
  });
  for (const register of COMMANDS) register(program);
  return program;
}
