import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { normalizeRequestPath } from './request-path.ts';

const ok = (raw: string) => {
  const result = normalizeRequestPath(raw);
  if (!result.ok) throw new Error(`refused ${raw}: ${result.reason}`);
  return result.path;
};
const refused = (raw: string) => {
  const result = normalizeRequestPath(raw);
  return result.ok ? null : result.reason;
};

describe('normalizeRequestPath', () => {
  it('leaves ordinary paths as they are (the same string)', () => {
    const raw = '/v1/items/42';
    expect(normalizeRequestPath(raw)).toEqual({ ok: true, path: raw });
    expect(ok('/v1/items.json')).toBe('/v1/items.json');
    expect(ok('/v1/a%20b')).toBe('/v1/a%20b');
  });

  it('removes dot-segments, plain or percent-encoded', () => {
    expect(ok('/v1/items/..')).toBe('/v1/');
    expect(ok('/v1/items/%2e%2e')).toBe('/v1/');
    expect(ok('/v1/items/%2E.')).toBe('/v1/');
    expect(ok('/v1/items/.%2E/x')).toBe('/v1/x');
    expect(ok('/v1/./items/.')).toBe('/v1/items/');
    expect(ok('/a/b/../../c')).toBe('/c');
    expect(ok('/v1/..a/.b')).toBe('/v1/..a/.b');
  });

  it('decodes unreserved characters and upper-cases other escapes (RFC 3986 §6.2.2)', () => {
    expect(ok('/v1/%7Euser/%41%62')).toBe('/v1/~user/Ab');
    expect(ok('/v1/a%3fb%e2%82%ac')).toBe('/v1/a%3Fb%E2%82%AC');
  });

  it('refuses what an upstream could read as another path', () => {
    expect(refused('/v1/items/..%2f..%2fadmin')).toBe('an encoded slash or backslash');
    expect(refused('/v1/items/%2F')).toBe('an encoded slash or backslash');
    expect(refused('/v1/items/%5c..')).toBe('an encoded slash or backslash');
    expect(refused('/v1/items\\..\\admin')).toBe('a backslash');
    expect(refused('/v1/%00')).toBe('an encoded NUL');
    expect(refused('/v1/%zz')).toBe('a malformed percent-escape');
    expect(refused('/v1/%2')).toBe('a malformed percent-escape');
    expect(refused('/..')).toBe('".." above the root');
    expect(refused('/v1/../../etc')).toBe('".." above the root');
    expect(refused('http://other/v1')).toBe('no leading "/"');
    expect(refused('*')).toBe('no leading "/"');
  });

  it('what it accepts is normal: no dot-segment, no encoded dot or slash, and stable (property)', () => {
    const piece = fc.constantFrom(
      'a',
      'items',
      '.',
      '..',
      '%2e',
      '%2E',
      '%2f',
      '%5C',
      '\\',
      '%41',
      '%zz',
      '',
      '%e2%82%ac',
      '~',
    );
    const segment = fc.array(piece, { minLength: 0, maxLength: 3 }).map((parts) => parts.join(''));
    fc.assert(
      fc.property(fc.array(segment, { minLength: 1, maxLength: 8 }), (segments) => {
        const raw = `/${segments.join('/')}`;
        const result = normalizeRequestPath(raw);
        if (!result.ok) return;
        const path = result.path;
        expect(path.startsWith('/')).toBe(true);
        expect(path.split('/')).not.toContain('..');
        expect(path.split('/')).not.toContain('.');
        expect(path).not.toMatch(/%2e|%2f|%5c|\\/i);
        expect(normalizeRequestPath(path)).toEqual({ ok: true, path });
      }),
      { seed: 42, numRuns: 2000 },
    );
  });
});
