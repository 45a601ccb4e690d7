import { describe, expect, it } from 'vitest';
import { gcra } from './gcra.ts';

/** Runs a sequence of requests at given times (ms) and returns the decisions. */
function run(times: number[], spec: { limit: number; windowMs: number; burst?: number }) {
  let tat: number | undefined;
  return times.map((t) => {
    const d = gcra(tat, t, spec);
    tat = d.tat;
    return d.result;
  });
}

describe('gcra', () => {
  it('allows a burst of `limit` at once, then refuses', () => {
    const results = run(Array(11).fill(0), { limit: 10, windowMs: 1000 });
    expect(results.map((r) => r.allowed)).toEqual([...Array(10).fill(true), false]);
    expect(results.map((r) => r.remaining)).toEqual([9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 0]);
  });

  it.each([
    // [label, spec, times, allowed]
    [
      'steady rate exactly at the limit',
      { limit: 10, windowMs: 1000, burst: 1 },
      [0, 100, 200, 300],
      [true, true, true, true],
    ],
    [
      'faster than the rate with no burst',
      { limit: 10, windowMs: 1000, burst: 1 },
      [0, 50, 100],
      [true, false, true],
    ],
    [
      'burst of 3 then the steady rate',
      { limit: 10, windowMs: 1000, burst: 3 },
      [0, 0, 0, 0, 100, 100],
      [true, true, true, false, true, false],
    ],
    [
      'budget refills after the window',
      { limit: 2, windowMs: 1000 },
      [0, 0, 0, 1000, 1000, 1000],
      [true, true, false, true, true, false],
    ],
  ])('%s', (_label, spec, times, allowed) => {
    expect(run(times, spec).map((r) => r.allowed)).toEqual(allowed);
  });

  it('says when to retry and when the budget is full again', () => {
    const spec = { limit: 60, windowMs: 60_000 }; // one per second, burst 60
    const results = run(Array(61).fill(0), spec);
    const refused = results[60];
    expect(refused).toMatchObject({ allowed: false, remaining: 0, limit: 60, retryAfterMs: 1000 });
    expect(refused?.resetMs).toBe(60_000);
    expect(results[0]).toMatchObject({ allowed: true, remaining: 59, resetMs: 1000, retryAfterMs: 0 });
    // after the retry-after, exactly one more is allowed
    const next = gcra(60_000, 1000, spec);
    expect(next.result.allowed).toBe(true);
    expect(next.result.remaining).toBe(0);
  });

  it('refused requests do not consume budget', () => {
    const spec = { limit: 1, windowMs: 1000 };
    const first = gcra(undefined, 0, spec);
    const refused = gcra(first.tat, 10, spec);
    expect(refused.result.allowed).toBe(false);
    expect(refused.tat).toBe(first.tat);
    expect(gcra(refused.tat, 1000, spec).result.allowed).toBe(true);
  });

  it('handles costs above one', () => {
    const spec = { limit: 10, windowMs: 1000 };
    const d = gcra(undefined, 0, spec, 4);
    expect(d.result).toMatchObject({ allowed: true, remaining: 6 });
    expect(gcra(d.tat, 0, spec, 7).result.allowed).toBe(false);
  });
});
