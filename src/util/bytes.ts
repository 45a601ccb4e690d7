/**
 * Sizes as operators write them in config: a number of bytes, or a string with a unit
 * (`"512MiB"`, `"10GB"`). Binary (KiB, MiB, GiB, TiB) and decimal (kB, MB, GB, TB) units both
 * mean what they say; the result is a whole number of bytes.
 */
const UNITS: Record<string, number> = {
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
  tib: 1024 ** 4,
};
const SIZE_RE = /^\s*(\d+(?:\.\d+)?)\s*([a-z]+)?\s*$/i;

export function parseByteSize(value: number | string): number | null {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value > 0 ? value : null;
  const m = SIZE_RE.exec(value);
  if (!m) return null;
  const unit = UNITS[(m[2] ?? 'b').toLowerCase()];
  if (!unit) return null;
  const bytes = Math.round(Number(m[1]) * unit);
  return Number.isSafeInteger(bytes) && bytes > 0 ? bytes : null;
}

/** A size for people: `10 GiB`, `320 MiB`, `1.5 GiB`, `900 B`. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${Number.isInteger(value) ? value : value.toFixed(1)} ${units[unit]}`;
}
