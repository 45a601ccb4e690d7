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
