import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';

/**
 * Webhook signing secrets, as Standard Webhooks and Svix define them: `whsec_` followed by the
 * base64 of 24 to 64 random bytes (the spec: "between 24 bytes (192 bits) and 64 bytes (512
 * bits)"; svix `libs/javascript/src/webhook.ts` strips the `whsec_` prefix and base64-decodes the
 * rest). A secret that is not one is refused when it is set, never discovered at the first send.
 *
 * During a rotation a delivery carries one `v1,<signature>` per live secret, separated by a space
 * (the `webhook-signature` header is a space-delimited list; verifiers accept any that matches),
 * so receivers can switch secrets at their own pace within the overlap.
 */
export const SECRET_PREFIX = 'whsec_';
export const SECRET_MIN_BYTES = 24;
export const SECRET_MAX_BYTES = 64;

export function newWebhookSecret(): string {
  return `${SECRET_PREFIX}${randomBytes(32).toString('base64')}`;
}

/** Why `secret` is not a valid signing secret, or null when it is. */
export function webhookSecretProblem(secret: string): string | null {
  if (!secret.startsWith(SECRET_PREFIX)) return `must start with "${SECRET_PREFIX}"`;
  const encoded = secret.slice(SECRET_PREFIX.length);
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(encoded) || encoded.length % 4 !== 0)
    return `must be "${SECRET_PREFIX}" followed by standard base64 (A–Z, a–z, 0–9, +, /, = padding)`;
  const bytes = Buffer.from(encoded, 'base64').length;
  if (bytes < SECRET_MIN_BYTES || bytes > SECRET_MAX_BYTES)
    return `must encode ${SECRET_MIN_BYTES} to ${SECRET_MAX_BYTES} random bytes (this one has ${bytes})`;
  return null;
}

/**
 * Signs a payload the Standard Webhooks way with every given secret (the newest first); returns
 * the three headers.
 */
export function signWebhook(
  secrets: string | readonly string[],
  messageId: string,
  timestamp: Date,
  body: string,
): Record<string, string> {
  const list = typeof secrets === 'string' ? [secrets] : secrets;
  return {
    'webhook-id': messageId,
    'webhook-timestamp': String(Math.floor(timestamp.getTime() / 1000)),
    'webhook-signature': list.map((s) => new Webhook(s).sign(messageId, timestamp, body)).join(' '),
  };
}
