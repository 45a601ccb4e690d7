import type { Command } from 'commander';
import pc from 'picocolors';
import { resolveAdminToken } from '../admin/auth.ts';
import type { Tollgate } from '../app.ts';
import { addScaleOutOptions, runClusterIfAsked, scaleOutStartOptions } from '../cluster/cli.ts';
import { clusterGatewayPort } from '../cluster/node-cluster.ts';
import { loadConfig, type ResolvedConfig } from '../config/index.ts';
import { createLogger } from '../util/log.ts';
import { installSafetyNet } from '../util/safety-net.ts';
import { type GlobalOptions, globalOptions } from './context.ts';
import { readServerFile, removeServerFile, writeServerFile } from './data-dir.ts';
import { CliError } from './errors.ts';
import { portOption } from './ports.ts';
import type { CreateProgram } from './program-output.ts';
import { mountCliRoute } from './remote.ts';

/** Where the admin token comes from, for the banner: the token itself is never printed. */
function adminTokenSource(config: ResolvedConfig, dataDir: string): { where: string; shell: string } {
  if (config.admin.token) return { where: 'admin.token in the config', shell: '<admin token>' };
  if (process.env.TOLLGATE_ADMIN_TOKEN)
    return { where: 'TOLLGATE_ADMIN_TOKEN', shell: '$TOLLGATE_ADMIN_TOKEN' };
  const file = `${dataDir}/admin-token`;
  return { where: file, shell: `$(cat ${JSON.stringify(file)})` };
}

function printBanner(mode: 'dev' | 'start', config: ResolvedConfig, tollgate: Tollgate): void {
  const token = adminTokenSource(config, tollgate.runtime.dataDir);
  console.log(pc.bold(`Tollgate${mode === 'dev' ? ' (dev)' : ''} — ${config.name}`));
  if (tollgate.gatewayUrl) console.log(`  gateway     ${pc.cyan(tollgate.gatewayUrl)}`);
  if (tollgate.consoleUrl) {
    console.log(`  portal      ${pc.cyan(`${tollgate.consoleUrl}/`)}`);
    console.log(`  admin API   ${pc.cyan(`${tollgate.consoleUrl}/api/admin/docs`)}`);
    console.log(`  admin token ${token.where}`);
  }
  if (tollgate.healthUrl) console.log(`  health      ${pc.cyan(tollgate.healthUrl)}`);
  console.log(`  data dir    ${tollgate.runtime.dataDir}`);
  if (!tollgate.consoleUrl) return;
  console.log(`\n${pc.bold('Try it')}`);
  console.log(`  curl -H "Authorization: Bearer ${token.shell}" ${tollgate.consoleUrl}/api/admin/customers`);
  console.log(
    pc.dim(
      `  # a key to call your API through the gateway (in another terminal; this process runs them):\n  npx tollgate customers create --name "Me" --email me@example.com --plan ${config.plans[0]?.key ?? '<plan>'}\n  npx tollgate keys create --customer <customer id>`,
    ),
  );
}

/** A second server on the same embedded store: say which one runs, before touching the store. */
function refuseIfRunning(options: GlobalOptions): void {
  if (options.database) return;
  const running = readServerFile(options.dataDir);
  if (!running || running.pid === process.pid) return;
  throw new CliError(
    `Tollgate is already running on ${options.dataDir} (pid ${running.pid}, ${running.consoleUrl}): ` +
      'use that one (the other commands go to it), stop it first, or give this one another --data-dir.',
  );
}

export function registerServerCommands(program: Command, createProgram: CreateProgram): void {
  const run =
    (mode: 'dev' | 'start') => async (opts: { port?: string; consolePort?: string }, command: Command) => {
      const options = globalOptions(command);
      const scaleOut = scaleOutStartOptions(command);
      const role = scaleOut.role;
      const gatewayPort = clusterGatewayPort() ?? portOption(command, '--port', opts.port, 'TOLLGATE_PORT');
      const consolePort = portOption(command, '--console-port', opts.consolePort, 'TOLLGATE_CONSOLE_PORT');
      if (await runClusterIfAsked(scaleOut)) process.exit(0);
      refuseIfRunning(options);
      const config = await loadConfig(options.config);
      const log = createLogger({ pretty: mode === 'dev' });
      installSafetyNet(log);
      let live: Tollgate | null = null;
      const { startTollgate } = await import('../app.ts');
      const tollgate = await startTollgate({
        config,
        database: options.database,
        dataDir: options.dataDir,
        redis: options.redis,
        nats: options.nats,
        role,
        gatewayPort,
        consolePort,
        watchConfig: mode === 'dev' ? options.config : undefined,
        healthPort: scaleOut.healthPort,
        log,
        routes: (app, adminRegistry) =>
          mountCliRoute(app, {
            adminToken: resolveAdminToken(config, options.dataDir),
            tollgate: () => live,
            createProgram,
            adminRegistry,
          }),
      });
      live = tollgate;
      // Other `tollgate` commands on this data directory find this process here (./remote.ts).
      const ownsEmbeddedStore = !options.database && tollgate.consoleUrl;
      if (ownsEmbeddedStore && tollgate.consoleUrl) {
        writeServerFile(tollgate.runtime.dataDir, {
          pid: process.pid,
          consoleUrl: tollgate.consoleUrl,
          gatewayUrl: tollgate.gatewayUrl,
          startedAt: new Date().toISOString(),
        });
        process.once('exit', () => removeServerFile(tollgate.runtime.dataDir));
      }
      printBanner(mode, config, tollgate);
      const shutdown = async () => {
        if (ownsEmbeddedStore) removeServerFile(tollgate.runtime.dataDir);
        await tollgate.stop();
        process.exit(0);
      };
      // Ctrl+C, a supervisor's stop, and a closed terminal all stop it the same way.
      for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.once(signal, shutdown);
    };

  const portOptions = (command: Command) =>
    command
      .option('--port <port>', 'gateway port (env TOLLGATE_PORT; default: gateway.port of the config, 8080)')
      .option(
        '--console-port <port>',
        'portal, admin and metering API port (env TOLLGATE_CONSOLE_PORT; default: console.port, 8081)',
      );

  portOptions(
    program
      .command('dev')
      .description('run everything in one process on the embedded store; reloads on config edits'),
  ).action(run('dev'));
  addScaleOutOptions(
    portOptions(
      program
        .command('start')
        .description('run Tollgate (all roles, or one with --role for scale-out)')
        .option('--role <role>', 'all | gateway | worker | console', 'all'),
    ),
  ).action(run('start'));
  program
    .command('migrate')
    .description('apply database migrations and exit')
    .action(async (_opts: unknown, command: Command) => {
      const options = globalOptions(command);
      const { migrate, openStore } = await import('../store/index.ts');
      const store = await openStore(options.database, options.dataDir);
      try {
        const result = await migrate(store);
        if (result.applied.length === 0) console.log(pc.green('Database is up to date.'));
        for (const name of result.applied) console.log(`${pc.green('applied')} ${name}`);
      } finally {
        await store.close();
      }
    });
}
