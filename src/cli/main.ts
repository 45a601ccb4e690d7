import { Command } from 'commander';
import pc from 'picocolors';
import { ConfigError } from '../config/index.ts';
import { isProblemError } from '../http/problem.ts';
import { StoreLockedError } from '../store/index.ts';
import { registerBillingCommands } from './bill.ts';
import { registerCustomersCommands } from './customers.ts';
import { registerKeysCommands } from './keys.ts';
import { registerPlansCommands } from './plans.ts';
import { registerServerCommands } from './server.ts';
import { registerUsageCommands } from './usage.ts';

/**
 * `tollgate` — one command per task. Each module registers its own sub-commands; the common
 * options (--config, --database, …) are read through `globalOptions()` in ./context.ts.
 */
const program = new Command('tollgate')
  .description('API monetization: gateway, metering, plans, billing and developer portal')
  .option('-c, --config <file>', 'config file', 'tollgate.config.ts')
  .option(
    '--database <url>',
    'postgres://… (default: embedded store in .tollgate/)',
    process.env.TOLLGATE_DATABASE_URL,
  )
  .option('--data-dir <dir>', 'where the embedded store and usage log live', process.env.TOLLGATE_DATA_DIR)
  .option('--redis <url>', 'redis://… for rate limits and quotas (scale-out)', process.env.TOLLGATE_REDIS_URL)
  .option('--nats <url>', 'nats://… for the usage stream (scale-out)', process.env.TOLLGATE_NATS_URL)
  .showHelpAfterError();

registerServerCommands(program);
registerKeysCommands(program);
registerUsageCommands(program);
registerPlansCommands(program);
registerCustomersCommands(program);
registerBillingCommands(program);

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof ConfigError || error instanceof StoreLockedError) {
    console.error(pc.red(error.message));
  } else if (isProblemError(error)) {
    console.error(pc.red(`${error.title}: ${error.detail ?? ''}`));
  } else {
    console.error(pc.red((error as Error).stack ?? String(error)));
  }
  process.exitCode = 1;
}
