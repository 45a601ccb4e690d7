import { AsyncLocalStorage } from 'node:async_hooks';
import { format } from 'node:util';
import type { Tollgate } from '../app.ts';

/**
 * A CLI command run inside a running `tollgate dev`/`start` on behalf of another `tollgate`
 * process (see ./remote.ts): it uses that server's open store and writes its output into a
 * buffer sent back to the caller. Commands print with `console.*`, which is routed here while a
 * command of this async context runs and goes on to the real console otherwise.
 */
export interface InProcessRun {
  tollgate: Tollgate;
  /** The calling process's working directory: relative --config / --data-dir resolve from it. */
  cwd: string;
  stdout: string[];
  stderr: string[];
}

const current = new AsyncLocalStorage<InProcessRun>();

export function inProcessRun(): InProcessRun | undefined {
  return current.getStore();
}

let consoleRouted = false;

function routeConsole(): void {
  if (consoleRouted) return;
  consoleRouted = true;
  for (const [method, stream] of [
    ['log', 'stdout'],
    ['info', 'stdout'],
    ['warn', 'stderr'],
    ['error', 'stderr'],
  ] as const) {
    const original = console[method].bind(console);
    console[method] = (...args: unknown[]) => {
      const run = current.getStore();
      if (run) run[stream].push(`${format(...args)}\n`);
      else original(...args);
    };
  }
}

export async function runInProcess<T>(run: InProcessRun, fn: () => Promise<T>): Promise<T> {
  routeConsole();
  return await current.run(run, fn);
}
