/** An API key as the gateway sees it after verification. The secret itself is never stored. */
export interface VerifiedKey {
  id: string;
  name: string;
  /** The readable start of the key (`tg_live_AbC1`), safe to show and log. */
  prefix: string;
  customerId: string;
  subscriptionId: string | null;
  metadata: Record<string, unknown>;
  expiresAt: Date | null;
}

export interface KeyVerifier {
  /**
   * Returns the key if it is valid now, or null (unknown, revoked, expired, failed checksum).
   * A cache hit answers synchronously.
   */
  verify(rawKey: string): VerifiedKey | null | Promise<VerifiedKey | null>;
}

/** A key as the admin API, portal and CLI show it (never the secret, never the hash). */
export interface ApiKey {
  id: string;
  customerId: string;
  subscriptionId: string | null;
  name: string;
  prefix: string;
  metadata: Record<string, unknown>;
  createdAt: Date;
  expiresAt: Date | null;
  revokedAt: Date | null;
  lastUsedAt: Date | null;
  /** Set when the key was rolled: the id of its successor. */
  rolledTo: string | null;
  status: 'active' | 'expired' | 'revoked';
}

export interface CreateKeyInput {
  customerId: string;
  subscriptionId?: string | null;
  name?: string;
  metadata?: Record<string, unknown>;
  expiresAt?: Date | null;
}

/** Returned by create and roll: the only time the secret is seen. */
export interface CreatedKey {
  key: ApiKey;
  secret: string;
}
