/**
 * What the portal's services refuse, in their own words; `routes/errors.ts` turns each into
 * problem+json at the HTTP edge (the services know nothing of status codes).
 */
export type AccountErrorKind =
  | 'invalid' // the input breaks a rule (names the field)
  | 'bad-token' // a reset or invitation link that is unknown, used or expired
  | 'wrong-credentials'
  | 'throttled'
  | 'not-owner'
  | 'not-found'
  | 'conflict';

export class AccountError extends Error {
  readonly kind: AccountErrorKind;
  /** For `invalid`: each field and the rule it breaks. */
  readonly fields: { path: string; message: string }[];
  /** For `throttled`: seconds until another attempt is allowed. */
  readonly retryAfterSeconds: number;

  constructor(
    kind: AccountErrorKind,
    message: string,
    extra: { fields?: { path: string; message: string }[]; retryAfterSeconds?: number } = {},
  ) {
    super(message);
    this.name = 'AccountError';
    this.kind = kind;
    this.fields = extra.fields ?? [];
    this.retryAfterSeconds = extra.retryAfterSeconds ?? 0;
  }
}
