import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * The one constant-time comparison of secrets (admin token, CSRF tokens, webhook signatures).
 * Both sides are hashed first, so the time taken says nothing about either length either; an
 * empty secret never matches (an unset token must not equal an empty header).
 */
export function sameSecret(presented: string, expected: string): boolean {
  if (presented.length === 0 || expected.length === 0) return false;
  const a = createHash('sha256').update(presented).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}
