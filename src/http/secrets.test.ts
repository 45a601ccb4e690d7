import { describe, expect, it } from 'vitest';
import { sameSecret } from './secrets.ts';

describe('sameSecret', () => {
  it('matches equal secrets only, of any length, and never an empty one', () => {
    expect(sameSecret('tga_abc', 'tga_abc')).toBe(true);
    expect(sameSecret('tga_abc', 'tga_abd')).toBe(false);
    expect(sameSecret('tga_ab', 'tga_abc')).toBe(false);
    expect(sameSecret('', '')).toBe(false);
    expect(sameSecret('x', '')).toBe(false);
  });
});
