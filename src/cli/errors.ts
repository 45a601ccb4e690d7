import { BackendUnavailableError } from '../cluster/backends.ts';
import { ConfigError } from '../config/index.ts';
import { isProblemError } from '../http/problem.ts';
import { StoreLockedError } from '../store/index.ts';

/** A failure the user can act on: printed as its message alone, without a stack. */
export class CliError extends Error {
  override name = 'CliError';
}

/** The one line the CLI prints for a failed command. */
export function describeError(error: unknown): string {
  if (
    error instanceof CliError ||
    error instanceof ConfigError ||
    error instanceof StoreLockedError ||
    error instanceof BackendUnavailableError
  ) {
    return error.message;
  }
  if (isProblemError(error)) return `${error.title}: ${error.detail ?? ''}`;
  return (error as Error).stack ?? String(error);
}
