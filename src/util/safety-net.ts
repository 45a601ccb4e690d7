import type { Logger } from './log.ts';

/**
 * The process-level net under request work: an error that escapes every handler (a promise
 * rejected with nobody awaiting it, a throw inside a timer callback of a user's policy) is
 * logged and the process keeps serving. Without it Node ends the process, so one hostile or
 * unlucky request would take the gateway, the console and the portal down with it (issue 12,
 * row 1). Each listener and background job still contains its own failures; this catches only
 * what slipped past them, and logs it at error level so it gets fixed rather than hidden.
 *
 * Installed once per process by the command that owns the process (`tollgate dev|start`), not by
 * `startTollgate`: a test runner or an embedding program keeps its own policy.
 */
let installed: Logger | null = null;

export function installSafetyNet(log: Logger): void {
  if (installed) return;
  installed = log;
  process.on('unhandledRejection', (reason) => {
    log.error({ err: reason }, 'a rejected promise was not handled; the process keeps running');
  });
  process.on('uncaughtException', (error, origin) => {
    log.error({ err: error, origin }, 'an uncaught exception was contained; the process keeps running');
  });
}
