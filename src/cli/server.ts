import type { Command } from 'commander';
import pc from 'picocolors';
import { startTollgate } from '../app.ts';
import { addScaleOutOptions, runClusterIfAsked, scaleOutStartOptions } from '../cluster/cli.ts';
import { loadConfig } from '../config/index.ts';
import { migrate, openStore } from '../store/index.ts';
import { createLogger } from '../util/log.ts';
import { installSafetyNet } from '../util/safety-net.ts';
import { globalOptions } from './context.ts';

export function registerServerCommands(program: Command): void {
  const run = (mode: 'dev' | 'start') => async (_opts: unknown, command: Command) => {
    const options = globalOptions(command);
    const scaleOut = scaleOutStartOptions(command);
    const role = scaleOut.role;
    if (await runClusterIfAsked(scaleOut)) process.exit(0);
    const config = await loadConfig(options.config);
    const log = createLogger({ pretty: mode === 'dev' });
    installSafetyNet(log);
    const tollgate = await startTollgate({
      config,
      database: options.database,
      dataDir: options.dataDir,
      redis: options.redis,
      nats: options.nats,
      role,
      watchConfig: mode === 'dev' ? options.config : undefined,
      healthPort: scaleOut.healthPort,
      log,
    });
    console.log(pc.bold(`Tollgate ${mode === 'dev' ? '(dev)' : ''} — ${config.name}`));
    if (tollgate.gatewayUrl) console.log(`  gateway   ${pc.cyan(tollgate.gatewayUrl)}`);
    if (tollgate.consoleUrl) console.log(`  portal    ${pc.cyan(`${tollgate.consoleUrl}/`)}`);
    if (tollgate.healthUrl) console.log(`  health    ${pc.cyan(tollgate.healthUrl)}`);
    const shutdown = async () => {
      await tollgate.stop();
      process.exit(0);
    };
    process.once('SIGINT', shutdown);
    process.once('SIGTERM', shutdown);
  };

  program
    .command('dev')
    .description('run everything in one process on the embedded store; reloads on config edits')
    .action(run('dev'));
  addScaleOutOptions(
    program
      .command('start')
      .description('run Tollgate (all roles, or one with --role for scale-out)')
      .option('--role <role>', 'all | gateway | worker | console', 'all'),
  ).action(run('start'));
  program
    .command('migrate')
    .description('apply database migrations and exit')
    .action(async (_opts: unknown, command: Command) => {
      const options = globalOptions(command);
      const store = await openStore(options.database, options.dataDir ?? '.tollgate');
      try {
        const result = await migrate(store);
        if (result.applied.length === 0) console.log(pc.green('Database is up to date.'));
        for (const name of result.applied) console.log(`${pc.green('applied')} ${name}`);
      } finally {
        await store.close();
      }
    });
}
