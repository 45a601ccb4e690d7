import type { Command } from 'commander';
import { startTollgate, type Tollgate } from '../app.ts';
import { loadConfig } from '../config/index.ts';

export interface GlobalOptions {
  config: string;
  database?: string;
  dataDir?: string;
  redis?: string;
  nats?: string;
}

export function globalOptions(command: Command): GlobalOptions {
  return command.optsWithGlobals() as GlobalOptions;
}

/**
 * Opens the installation without listening (role 'worker' minus background jobs), for CLI
 * commands that read or change state: keys, plans, usage, invoices.
 */
export async function withTollgate<T>(command: Command, fn: (tollgate: Tollgate) => Promise<T>): Promise<T> {
  const options = globalOptions(command);
  const config = await loadConfig(options.config);
  const tollgate = await startTollgate({
    config,
    database: options.database,
    dataDir: options.dataDir,
    redis: options.redis,
    nats: options.nats,
    role: 'cli',
  });
  try {
    return await fn(tollgate);
  } finally {
    await tollgate.stop();
  }
}
