import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ProblemError } from '../http/problem.ts';
import { usageRange, usageWindow } from './usage-range.ts';

const now = new Date('2026-03-10T12:00:00Z');

function problemOf(run: () => unknown): ProblemError | null {
  try {
    run();
    return null;
  } catch (error) {
    return error as ProblemError;
  }
}

describe('usage query range', () => {
  it('refuses dates outside the documented range with a 400 naming the field', () => {
    const far = problemOf(() => usageRange({ from: '-271821-04-20T00:00:00Z' }, 'HOUR', now));
    expect(far?.status).toBe(400);
    expect(far?.extensions.errors).toEqual([{ path: 'from', message: expect.stringMatching(/ISO 8601/) }]);
    const late = problemOf(() => usageRange({ to: '+275760-09-13T00:00:00Z' }, 'HOUR', now));
    expect(late?.extensions.errors).toEqual([{ path: 'to', message: expect.any(String) }]);
    const before = problemOf(() => usageRange({ from: '1969-12-31T23:59:59Z' }, 'HOUR', now));
    expect(before?.detail).toMatch(/^from: must be between 1970/);
    expect(
      problemOf(() => usageRange({ from: '2026-03-02T00:00:00Z', to: '2026-03-01T00:00:00Z' }, 'DAY', now))
        ?.detail,
    ).toMatch(/^to:/);
    expect(problemOf(() => usageWindow('WEEK'))?.detail).toMatch(/^window:/);
  });

  it('defaults `from` by the window and keeps the range half-open', () => {
    expect(usageRange({}, 'HOUR', now).from.toISOString()).toBe('2026-03-08T12:00:00.000Z');
    const r = usageRange({ from: '2026-03-01T00:00:00Z', to: '2026-03-02T00:00:00+01:00' }, 'DAY', now);
    expect(r.to?.toISOString()).toBe('2026-03-01T23:00:00.000Z');
  });

  it('answers any string either with a range in bounds or a 400 problem (property)', () => {
    fc.assert(
      fc.property(
        fc.option(fc.string({ maxLength: 40 })),
        fc.option(fc.string({ maxLength: 40 })),
        (from, to) => {
          const query = { from: from ?? undefined, to: to ?? undefined };
          try {
            const range = usageRange(query, 'HOUR', now);
            expect(range.from.getFullYear()).toBeGreaterThanOrEqual(1970);
            expect(range.from.getUTCFullYear()).toBeLessThanOrEqual(9999);
          } catch (error) {
            expect(error).toBeInstanceOf(ProblemError);
            expect((error as ProblemError).status).toBe(400);
          }
        },
      ),
      { seed: 42, numRuns: 500 },
    );
  });
});
