import { isProblemError } from '../http/problem.ts';

/** A failure the user can act on: printed as its message alone, without a stack. */
export class CliError extends Error {
  override name = 'CliError';
}

/**
 * Errors whose message says what to do (the config's, a store held by another process, a
 * scale-out backend out of reach): known by name, so that every command's start does not load
 * the store and the cluster code for an `instanceof`.
 */
const SELF_EXPLAINING = new Set(['CliError', 'ConfigError', 'StoreLockedError', 'BackendUnavailableError']);

/** The one line the CLI prints for a failed command. */
export function describeError(error: unknown): string {
  if (error instanceof Error && SELF_EXPLAINING.has(error.name)) return error.message;
  const listen = error as { code?: unknown; port?: unknown; address?: unknown };
  if (listen.code === 'EADDRINUSE' && typeof listen.port === 'number') {
    return (
      `Port ${listen.port} on ${String(listen.address)} is in use by another program. Choose others with ` +
      '--port (gateway) and --console-port (portal), or TOLLGATE_PORT and TOLLGATE_CONSOLE_PORT; 0 takes any free port.'
    );
  }
  if (isProblemError(error)) return `${error.title}: ${error.detail ?? ''}`;
  return (error as Error).stack ?? String(error);
}
