import { ProblemError, problems, toProblem } from '../../http/problem.ts';
import { AccountError } from '../errors.ts';

/**
 * The HTTP edge of the portal: the services' domain errors become problem+json here, in one
 * place (the services know nothing of status codes).
 */
export function portalProblem(error: unknown): ProblemError {
  if (!(error instanceof AccountError)) return toProblem(error);
  switch (error.kind) {
    case 'invalid':
      return problems.validation(error.message, error.fields);
    case 'bad-token':
      return problems.badRequest(error.message);
    case 'wrong-credentials':
      return problems.unauthorized(error.message);
    case 'throttled':
      return new ProblemError({
        status: 429,
        type: 'too-many-login-attempts',
        title: 'Too many login attempts',
        detail: error.message,
        headers: { 'retry-after': String(error.retryAfterSeconds) },
        extensions: { retryAfter: error.retryAfterSeconds },
      });
    case 'not-owner':
      return problems.forbidden(error.message);
    case 'not-found':
      return problems.notFound(error.message);
    case 'conflict':
      return problems.conflict(error.message);
  }
}

/** A card payment the rail declined (checkout, top-up, paying an invoice): the rail's own message. */
export function cardDeclined(message: string): ProblemError {
  return new ProblemError({ status: 402, type: 'card-declined', title: 'Card declined', detail: message });
}
