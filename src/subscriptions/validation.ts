import type { z } from 'zod';
import { formatPath } from '../config/index.ts';
import { problems } from '../http/problem.ts';

/** Validates input at the service boundary: a 400 problem naming each bad field. */
export function parseOrThrow<S extends z.ZodType>(schema: S, value: unknown, what: string): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const errors = result.error.issues.map((issue) => ({
    path: formatPath(issue.path),
    message: issue.message,
  }));
  throw problems.validation(
    `The ${what} is not valid: ${errors.map((e) => `${e.path || '(root)'}: ${e.message}`).join('; ')}`,
    errors,
  );
}
