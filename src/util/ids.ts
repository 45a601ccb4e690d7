import { randomBytes } from 'node:crypto';

const ALPHABET = '0123456789abcdefghijklmnopqrstuvwxyz';

/** Sortable-enough random id with a readable prefix, e.g. `cus_4k2…`. */
export function newId(prefix: string, bytes = 12): string {
  const buf = randomBytes(bytes);
  let out = '';
  for (const b of buf) out += ALPHABET[b % 36];
  return `${prefix}_${out}`;
}
