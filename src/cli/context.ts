import { isAbsolute, resolve } from 'node:path';
import type { Command } from 'commander';
import type { Tollgate } from '../app.ts';
import { loadConfig } from '../config/index.ts';
import { dataDirOf } from './data-dir.ts';
import { inProcessRun } from './in-process.ts';

export interface GlobalOptions {
  /** Absolute path of the config file. */
  config: string;
  database?: string;
  /** Absolute path of the data directory (see ./data-dir.ts for the rule). */
  dataDir: string;
  redis?: string;
  nats?: string;
}

/** The global options, with the config file and the data directory as absolute paths. */
export function globalOptions(command: Command): GlobalOptions {
  const raw = command.optsWithGlobals() as Omit<GlobalOptions, 'dataDir'> & { dataDir?: string };
  const cwd = inProcessRun()?.cwd ?? process.cwd();
  const absolute = (path: string) => (isAbsolute(path) ? path : resolve(cwd, path));
  const config = absolute(raw.config);
  const dataDir = dataDirOf({ config, dataDir: raw.dataDir ? absolute(raw.dataDir) : undefined });
  return { ...raw, config, dataDir };
}

/**
 * Opens the installation without listening (role 'cli'), for commands that read or change
 * state: keys, plans, usage, invoices. Run inside a `tollgate dev`/`start` on behalf of another
 * process (./remote.ts), it uses that server's services with the config file as it is now.
 */
export async function withTollgate<T>(command: Command, fn: (tollgate: Tollgate) => Promise<T>): Promise<T> {
  const options = globalOptions(command);
  const inside = inProcessRun();
  // Inside a long-running server the file may have changed since the last load: read it afresh.
  const config = await loadConfig(options.config, { fresh: inside !== undefined });
  if (inside) {
    const live = inside.tollgate;
    return await fn({ ...live, runtime: { ...live.runtime, config }, stop: async () => {} });
  }
  // Imported here, not at the top: a command that a running server runs for this process, and
  // every `--help`, start without loading the whole application.
  const { startTollgate } = await import('../app.ts');
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
