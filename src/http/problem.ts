/**
 * RFC 9457 problem details. Every error a client sees is one of these, with a stable `type`
 * per kind of error, served as exactly `application/problem+json` (no charset parameter:
 * some clients compare the content type literally).
 */
export const PROBLEM_CONTENT_TYPE = 'application/problem+json';
export const PROBLEM_TYPE_BASE = 'https://tollgate.dev/problems/';

export interface ProblemInit {
  status: number;
  /** Short slug, e.g. `rate-limited`; expanded to a URI under PROBLEM_TYPE_BASE. */
  type: string;
  title: string;
  detail?: string;
  /** Extra members (RFC 9457 §3.2), e.g. `limit`, `reset`, `upgradeUrl`, `errors`. */
  extensions?: Record<string, unknown>;
  headers?: Record<string, string>;
}

export interface ProblemBody {
  type: string;
  title: string;
  status: number;
  detail?: string;
  instance?: string;
  [extension: string]: unknown;
}

export class ProblemError extends Error {
  readonly status: number;
  readonly type: string;
  readonly title: string;
  readonly detail: string | undefined;
  readonly extensions: Record<string, unknown>;
  readonly headers: Record<string, string>;

  constructor(init: ProblemInit) {
    super(init.detail ?? init.title);
    this.name = 'ProblemError';
    this.status = init.status;
    this.type = init.type;
    this.title = init.title;
    this.detail = init.detail;
    this.extensions = init.extensions ?? {};
    this.headers = init.headers ?? {};
  }

  toBody(instance?: string): ProblemBody {
    const body: ProblemBody = {
      type: PROBLEM_TYPE_BASE + this.type,
      title: this.title,
      status: this.status,
      ...this.extensions,
    };
    if (this.detail !== undefined) body.detail = this.detail;
    if (instance !== undefined) body.instance = instance;
    return body;
  }
}

/** Common problems, so every module says the same thing the same way. */
export const problems = {
  badRequest: (detail: string, extensions?: Record<string, unknown>) =>
    new ProblemError({ status: 400, type: 'bad-request', title: 'Bad request', detail, extensions }),
  validation: (detail: string, errors: { path: string; message: string }[]) =>
    new ProblemError({
      status: 400,
      type: 'validation-failed',
      title: 'Request failed validation',
      detail,
      extensions: { errors },
    }),
  unauthorized: (detail: string) =>
    new ProblemError({
      status: 401,
      type: 'unauthorized',
      title: 'Unauthorized',
      detail,
      headers: { 'www-authenticate': 'Bearer' },
    }),
  forbidden: (detail: string, extensions?: Record<string, unknown>) =>
    new ProblemError({ status: 403, type: 'forbidden', title: 'Forbidden', detail, extensions }),
  notFound: (detail: string) =>
    new ProblemError({ status: 404, type: 'not-found', title: 'Not found', detail }),
  conflict: (detail: string, extensions?: Record<string, unknown>) =>
    new ProblemError({ status: 409, type: 'conflict', title: 'Conflict', detail, extensions }),
  internal: (detail = 'An unexpected error occurred.') =>
    new ProblemError({ status: 500, type: 'internal', title: 'Internal server error', detail }),
};

export function isProblemError(error: unknown): error is ProblemError {
  return error instanceof ProblemError;
}

/** Turns any thrown value into a problem; unknown errors become a 500 without leaking internals. */
export function toProblem(error: unknown): ProblemError {
  if (error instanceof ProblemError) return error;
  return problems.internal();
}

/** A web-standard Response carrying the problem (for Hono handlers and policies). */
export function problemResponse(problem: ProblemError, instance?: string): Response {
  return new Response(JSON.stringify(problem.toBody(instance)), {
    status: problem.status,
    headers: { 'content-type': PROBLEM_CONTENT_TYPE, ...problem.headers },
  });
}
