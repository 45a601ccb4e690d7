import { type FSWatcher, watch } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { ConfigError, loadConfig } from './load.ts';
import type { ResolvedConfig } from './schema.ts';

/**
 * Dev mode: re-imports the config file when it (or a file beside it, such as the OpenAPI
 * document) changes, and hands the validated result to `apply`. An invalid edit is reported
 * and ignored: the running config stays in force, so a typo never takes the gateway down.
 */
export function watchConfig(
  file: string,
  apply: (config: ResolvedConfig) => Promise<void>,
  report: (message: string, error?: unknown) => void,
): { close(): void } {
  const path = resolve(file);
  const dir = dirname(path);
  let timer: NodeJS.Timeout | null = null;
  let running: Promise<void> = Promise.resolve();
  const reload = () => {
    running = running.then(async () => {
      try {
        const next = await loadConfig(path, { fresh: true });
        await apply(next);
        report(`reloaded ${basename(path)}`);
      } catch (error) {
        report(
          error instanceof ConfigError ? error.message : `reload failed: ${(error as Error).message}`,
          error,
        );
      }
    });
  };
  const watcher: FSWatcher = watch(dir, (_event, name) => {
    if (!name || name.startsWith('.') || !/\.(ts|ya?ml|json)$/.test(String(name))) return;
    // Editors write in several steps; wait for the burst to settle.
    if (timer) clearTimeout(timer);
    timer = setTimeout(reload, 150);
  });
  return {
    close() {
      if (timer) clearTimeout(timer);
      watcher.close();
    },
  };
}
