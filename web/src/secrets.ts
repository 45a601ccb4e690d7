/**
 * Secrets of keys created in this tab, kept in memory only (never in storage): the API
 * reference fills its curl examples with them. After a reload only the key prefix is known.
 */
const secrets = new Map<string, string>();

export function rememberSecret(keyId: string, secret: string): void {
  secrets.set(keyId, secret);
}

export function secretOf(keyId: string): string | undefined {
  return secrets.get(keyId);
}
