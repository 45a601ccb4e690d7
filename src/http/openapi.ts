import { z } from '@hono/zod-openapi';
import { PROBLEM_CONTENT_TYPE } from './problem.ts';

/**
 * Pieces every `createRoute` of the admin API shares: the problem+json responses, a JSON
 * response, a JSON body and a path id. One copy, so every module's routes document errors the
 * same way.
 */
export const ProblemSchema = z
  .object({
    type: z.string().openapi({ example: 'https://tollgate.dev/problems/validation-failed' }),
    title: z.string(),
    status: z.number().int(),
    detail: z.string().optional(),
    instance: z.string().optional(),
    errors: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
  })
  .openapi('Problem', { description: 'RFC 9457 problem details (application/problem+json).' });

const PROBLEM_DESCRIPTIONS = {
  400: 'Invalid input (the `errors` member names each bad field)',
  401: 'Missing or wrong admin token',
  404: 'Not found',
  409: 'Conflict with the current state',
  413: 'The body is larger than the limit it names',
} as const;

export const problemResponses = (...codes: (keyof typeof PROBLEM_DESCRIPTIONS)[]) =>
  Object.fromEntries(
    codes.map((code) => [
      code,
      {
        description: PROBLEM_DESCRIPTIONS[code],
        content: { [PROBLEM_CONTENT_TYPE]: { schema: ProblemSchema } },
      },
    ]),
  );

export const ok = <T extends z.ZodType>(schema: T, description: string) => ({
  description,
  content: { 'application/json': { schema } },
});

export const jsonBody = <T extends z.ZodType>(schema: T, required = true) => ({
  required,
  content: { 'application/json': { schema } },
});

export const pathParam = <K extends string>(name: K) =>
  z.object({
    [name]: z
      .string()
      .min(1)
      .openapi({ param: { name, in: 'path' } }),
  } as { [P in K]: z.ZodString });
