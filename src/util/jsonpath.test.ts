import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compileJsonPath, JSON_PATH_PATTERN, parseJsonPath } from './jsonpath.ts';

describe('compileJsonPath', () => {
  it('reads names and array indexes', () => {
    const data = { usage: [{ tokens: 7 }, { tokens: 9 }], model: 'm', 'x-y': { _z: 3 } };
    expect(compileJsonPath('$.usage[0].tokens')(data)).toBe(7);
    expect(compileJsonPath('$.usage[1].tokens')(data)).toBe(9);
    expect(compileJsonPath('$.model')(data)).toBe('m');
    expect(compileJsonPath('$.x-y._z')(data)).toBe(3);
    expect(compileJsonPath('$.usage[2].tokens')(data)).toBeUndefined();
  });

  it('reads nothing through the wrong kind of value or from the prototype', () => {
    expect(compileJsonPath('$.a[0]')({ a: { 0: 1 } })).toBeUndefined();
    expect(compileJsonPath('$.a.length')({ a: [1, 2] })).toBeUndefined();
    expect(compileJsonPath('$.constructor')({})).toBeUndefined();
    expect(compileJsonPath('$.a.b')({ a: 'text' })).toBeUndefined();
    expect(compileJsonPath('$.a')(null)).toBeUndefined();
  });

  it('refuses what the config refuses, naming the path', () => {
    for (const bad of ['tokens', '$', '$.', '$..a', '$[a]', '$.a[-1]', "$['a']", '$.1a']) {
      expect(() => parseJsonPath(bad)).toThrow(`"${bad}" is not a JSONPath`);
    }
  });

  it('compiles each path once', () => {
    expect(compileJsonPath('$.a[3].b')).toBe(compileJsonPath('$.a[3].b'));
  });

  it('reads back any value placed at any valid path (property)', () => {
    const name = fc.stringMatching(/^[A-Za-z_][\w-]{0,8}$/);
    const step = fc.oneof(name, fc.nat({ max: 5 }));
    fc.assert(
      fc.property(fc.array(step, { minLength: 1, maxLength: 6 }), fc.jsonValue(), (steps, leaf) => {
        const path = `$${steps.map((s) => (typeof s === 'number' ? `[${s}]` : `.${s}`)).join('')}`;
        expect(JSON_PATH_PATTERN.test(path)).toBe(true);
        expect(parseJsonPath(path)).toEqual(steps);
        let data: unknown = leaf;
        for (let i = steps.length - 1; i >= 0; i--) {
          const s = steps[i] as string | number;
          if (typeof s === 'number') {
            const array: unknown[] = new Array(s + 1).fill(null);
            array[s] = data;
            data = array;
          } else {
            data = { [s]: data };
          }
        }
        expect(compileJsonPath(path)(data)).toEqual(leaf);
      }),
      { seed: 42, numRuns: 300 },
    );
  });

  it('never throws on any input data (property)', () => {
    const get = compileJsonPath('$.usage[0].tokens');
    fc.assert(
      fc.property(fc.anything(), (data) => {
        get(data);
      }),
      { seed: 42, numRuns: 300 },
    );
  });
});
