import { hash, randomBytes } from 'node:crypto';

/**
 * API key format: `<prefix>_<mode>_<random><checksum>`, mode `live`, or `test` for keys of an
 * installation on the sandbox payment rail (test cards, no real money), as Stripe names its keys.
 *
 * - random: 28 base62 characters (≈ 166 bits) from the OS CSPRNG, drawn without modulo bias;
 * - checksum: CRC32 of everything before it, as 6 base62 characters, so a mistyped or truncated
 *   key is refused without touching the cache or the database.
 *
 * Only `hashKey(raw)` (SHA-256, hex) is stored. A fast hash is the right tool for secrets with this
 * much entropy (as Unkey does): brute force is hopeless, and verification stays a cache hit.
 */
const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
export const RANDOM_LENGTH = 28;
export const CHECKSUM_LENGTH = 6;
/** Characters of the key shown in lists and logs (`tg_live_AbC1`, `tg_test_AbC1`). */
const SHOWN_RANDOM_CHARS = 4;

function randomBase62(length: number): string {
  let out = '';
  while (out.length < length) {
    const bytes = randomBytes(length * 2);
    for (let i = 0; i < bytes.length && out.length < length; i++) {
      const b = bytes[i] as number;
      // 248 = 4 × 62: rejecting 248..255 keeps every character equally likely.
      if (b < 248) out += BASE62[b % 62];
    }
  }
  return out;
}

function base62Fixed(value: number, length: number): string {
  let out = '';
  let n = value;
  for (let i = 0; i < length; i++) {
    out = BASE62[n % 62] + out;
    n = Math.floor(n / 62);
  }
  return out;
}

/** CRC-32 (IEEE, as zlib and `zlib.crc32`), here because `zlib.crc32` exists only from Node 22.2. */
const CRC_TABLE = Int32Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c;
});

export function crc32(text: string): number {
  let crc = -1;
  for (const byte of Buffer.from(text, 'utf8'))
    crc = (CRC_TABLE[(crc ^ byte) & 0xff] as number) ^ (crc >>> 8);
  return (crc ^ -1) >>> 0;
}

export function checksumOf(body: string): string {
  return base62Fixed(crc32(body), CHECKSUM_LENGTH);
}

export interface GeneratedKey {
  /** The secret, shown once. */
  raw: string;
  /** Readable start, safe to show and log. */
  prefix: string;
  hash: string;
}

export type KeyMode = 'live' | 'test';

export function generateKey(prefix: string, mode: KeyMode = 'live'): GeneratedKey {
  const body = `${prefix}_${mode}_${randomBase62(RANDOM_LENGTH)}`;
  const raw = body + checksumOf(body);
  return { raw, prefix: displayPrefix(raw), hash: hashKey(raw) };
}

/** Where the random part starts (after `_live_` or `_test_`), or -1. */
function randomStart(raw: string): number {
  const mode = /_(live|test)_/.exec(raw);
  return mode ? mode.index + 6 : -1;
}

export function displayPrefix(raw: string): string {
  const start = randomStart(raw);
  return start < 0 ? raw.slice(0, 12) : raw.slice(0, start + SHOWN_RANDOM_CHARS);
}

const SHAPE = /^[a-z]{2,8}_(live|test)_[0-9A-Za-z]+$/;

/**
 * True when the key has the right shape and its checksum matches. Cheap (no allocation beyond
 * the CRC input), run before any lookup so typos never reach the cache or the store.
 */
export function hasValidChecksum(raw: string): boolean {
  if (raw.length < 16 || raw.length > 64 || !SHAPE.test(raw)) return false;
  if (raw.length - randomStart(raw) !== RANDOM_LENGTH + CHECKSUM_LENGTH) return false;
  const split = raw.length - CHECKSUM_LENGTH;
  return checksumOf(raw.slice(0, split)) === raw.slice(split);
}

export function hashKey(raw: string): string {
  return hash('sha256', raw, 'hex');
}
