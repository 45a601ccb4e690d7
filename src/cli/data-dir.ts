import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { processAlive } from '../util/process-alive.ts';

/**
 * The one rule for the data directory, for every command: `--data-dir` (or `TOLLGATE_DATA_DIR`),
 * else `.tollgate` next to the config file. It holds the embedded store, the usage log, the
 * generated admin token and, while `tollgate dev`/`start` runs, `server.json`.
 */
export const DATA_DIR_HELP =
  'where the embedded store, usage log and admin token live (env TOLLGATE_DATA_DIR; default: .tollgate next to the config file)';

export function dataDirOf(options: { config: string; dataDir?: string }): string {
  return resolve(options.dataDir || join(dirname(resolve(options.config)), '.tollgate'));
}

/** What a running `tollgate dev`/`start` tells other commands on the same data directory. */
export interface ServerFile {
  pid: number;
  consoleUrl: string;
  gatewayUrl: string | null;
  startedAt: string;
}

const serverFilePath = (dataDir: string) => join(dataDir, 'server.json');

export function writeServerFile(dataDir: string, server: ServerFile): void {
  writeFileSync(serverFilePath(dataDir), `${JSON.stringify(server, null, 2)}\n`, { mode: 0o600 });
}

/** Removes the file only if it is this process's (a newer server may have replaced it). */
export function removeServerFile(dataDir: string, pid = process.pid): void {
  if (readServerFile(dataDir, { alive: false })?.pid === pid)
    rmSync(serverFilePath(dataDir), { force: true });
}

/** The running server of this data directory, or null (none, or a dead process's leftover file). */
export function readServerFile(dataDir: string, options: { alive?: boolean } = {}): ServerFile | null {
  const file = serverFilePath(dataDir);
  if (!existsSync(file)) return null;
  let parsed: Partial<ServerFile>;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8')) as Partial<ServerFile>;
  } catch {
    return null;
  }
  if (typeof parsed.pid !== 'number' || typeof parsed.consoleUrl !== 'string') return null;
  if (options.alive !== false && !processAlive(parsed.pid)) return null;
  return {
    pid: parsed.pid,
    consoleUrl: parsed.consoleUrl,
    gatewayUrl: typeof parsed.gatewayUrl === 'string' ? parsed.gatewayUrl : null,
    startedAt: String(parsed.startedAt ?? ''),
  };
}
