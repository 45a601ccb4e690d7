import { createHash, randomBytes } from 'node:crypto';

/**
 * Session, reset and invitation tokens: random 32 bytes (base64url), shown once; only their
 * SHA-256 is stored, so a copy of the store opens no session.
 */
export function newToken(): string {
  return randomBytes(32).toString('base64url');
}

export function sha256(value: string): string {
  return createHash('sha256').update(value).digest('hex');
}
