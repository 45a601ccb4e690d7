import { describe, expect, it } from 'vitest';
import { checksumOf, displayPrefix, generateKey, hashKey, hasValidChecksum } from './format.ts';

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
