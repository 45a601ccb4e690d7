import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { jsonDepth, parseJson } from './json-depth.ts';

function nested(depth: number): string {
  return `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
}

describe('JSON depth limit', () => {
  it('measures nesting of objects and arrays, ignoring brackets inside strings', () => {
    expect(jsonDepth('1')).toBe(0);
    expect(jsonDepth('{"a":[1,{"b":2}]}')).toBe(3);
    expect(jsonDepth('{"a":"[[[{{{\\"]]]"}')).toBe(1);
  });

  it('refuses a body nested 10,000 levels deep with a 400 naming the limit, without parsing it', () => {
    const error = (() => {
      try {
        parseJson(nested(10_000), 64);
      } catch (e) {
        return e as { status: number; detail: string; extensions: { limit: number } };
      }
      return null;
    })();
    expect(error?.status).toBe(400);
    expect(error?.detail).toContain('64');
    expect(error?.extensions.limit).toBe(64);
    expect(parseJson(nested(64), 64)).toBeTypeOf('object');
  });

  it('agrees with the depth of the value JSON.parse builds (property)', () => {
    const depthOf = (value: unknown): number =>
      value !== null && typeof value === 'object'
        ? 1 + Math.max(0, ...Object.values(value as Record<string, unknown>).map(depthOf))
        : 0;
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 8 }), (value) => {
        const text = JSON.stringify(value);
        expect(jsonDepth(text)).toBe(depthOf(JSON.parse(text)));
      }),
      { seed: 42, numRuns: 300 },
    );
  });
});
