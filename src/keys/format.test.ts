import * as zlib from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checksumOf, crc32, displayPrefix, generateKey, hashKey, hasValidChecksum } from './format.ts';

describe('key format', () => {
  it('generates prefixed keys with a valid checksum and ≥ 160 bits of randomness', () => {
    const key = generateKey('tg');
    expect(key.raw).toMatch(/^tg_live_[0-9A-Za-z]{34}$/);
    expect(hasValidChecksum(key.raw)).toBe(true);
    // 28 base62 characters ≈ 166.7 bits
    expect(28 * Math.log2(62)).toBeGreaterThan(160);
    expect(key.prefix).toBe(key.raw.slice(0, 12));
    expect(key.hash).toBe(hashKey(key.raw));
  });

  it('names sandbox keys tg_test_…, with the same checksum rules', () => {
    const key = generateKey('tg', 'test');
    expect(key.raw).toMatch(/^tg_test_[0-9A-Za-z]{34}$/);
    expect(hasValidChecksum(key.raw)).toBe(true);
    expect(key.prefix).toBe(key.raw.slice(0, 12));
    expect(hasValidChecksum(key.raw.replace('_test_', '_live_'))).toBe(false);
  });

  it('computes the checksum as zlib.crc32 does, so keys issued before stay valid', () => {
    expect(crc32('123456789')).toBe(0xcbf43926); // the CRC-32/ISO-HDLC check value
    expect(crc32('')).toBe(0);
    // Keys issued while the checksum came from zlib.crc32 (Node ≥ 22.2).
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 80 }), (text) => {
        expect(crc32(text)).toBe(zlib.crc32(text));
      }),
      { numRuns: 500 },
    );
    const { raw } = generateKey('tg');
    const body = raw.slice(0, -6);
    expect(raw.slice(-6)).toBe(checksumOf(body));
    expect(hasValidChecksum(body + checksumOfZlib(body))).toBe(true);
  });

  it('never repeats', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 2000; i++) seen.add(generateKey('tg').raw);
    expect(seen.size).toBe(2000);
  });

  it('rejects a single-character typo, truncation and foreign shapes', () => {
    const { raw } = generateKey('acme');
    expect(hasValidChecksum(raw)).toBe(true);
    for (let i = 9; i < raw.length; i++) {
      const c = raw[i] === 'a' ? 'b' : 'a';
      expect(hasValidChecksum(raw.slice(0, i) + c + raw.slice(i + 1))).toBe(false);
    }
    expect(hasValidChecksum(raw.slice(0, -1))).toBe(false);
    expect(hasValidChecksum(`${raw}x`)).toBe(false);
    expect(hasValidChecksum('')).toBe(false);
    expect(hasValidChecksum('Bearer something')).toBe(false);
    expect(hasValidChecksum(raw.replace('_live_', '_test_'))).toBe(false);
  });

  it('checksum is 6 base62 characters of CRC32', () => {
    expect(checksumOf('tg_live_x')).toMatch(/^[0-9A-Za-z]{6}$/);
    expect(checksumOf('a')).not.toBe(checksumOf('b'));
  });

  it('hash is SHA-256 hex and stable', () => {
    expect(hashKey('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });

  it('display prefix shows the readable start only', () => {
    expect(displayPrefix('tg_live_ABCDEFGH')).toBe('tg_live_ABCD');
  });
});

/** The checksum as an earlier version computed it, with zlib.crc32. */
function checksumOfZlib(body: string): string {
  const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
  let n = zlib.crc32(body);
  let out = '';
  for (let i = 0; i < 6; i++) {
    out = BASE62[n % 62] + out;
    n = Math.floor(n / 62);
  }
  return out;
}
