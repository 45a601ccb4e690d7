import { formatPath } from '../config/index.ts';
import { problems } from './problem.ts';

/**
 * `defaultHook` for every `OpenAPIHono` app: a request that fails its route's zod schema becomes
 * one 400 `validation-failed` problem whose `errors` name each bad field (`plans[0].key`), the
 * same shape the config loader uses for config mistakes.
 */
export function validationHook(
  result: { target: string } & (
    | { success: true }
    | { success: false; error: { issues: readonly { path: readonly PropertyKey[]; message: string }[] } }
  ),
): void {
  if (result.success) return;
  const errors = result.error.issues.map((issue) => ({
    path: formatPath(issue.path) || result.target,
    message: issue.message,
  }));
  throw problems.validation(
    `Invalid ${result.target}: ${errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`,
    errors,
  );
}
