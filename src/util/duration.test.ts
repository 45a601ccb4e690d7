import { describe, expect, it } from 'vitest';
import { isoDurationDays, isoDurationMs, parseIsoDuration } from './duration.ts';

describe('ISO 8601 durations (the one parser)', () => {
  it('gives milliseconds only for fixed-length durations', () => {
    expect(isoDurationMs('P7D')).toBe(7 * 86_400_000);
    expect(isoDurationMs('PT6H')).toBe(6 * 3_600_000);
    expect(isoDurationMs('P2W')).toBe(14 * 86_400_000);
    expect(isoDurationMs('P1DT30M')).toBe(86_400_000 + 30 * 60_000);
    expect(isoDurationMs('P1M')).toBeNull(); // a month has no fixed length
    expect(isoDurationMs('P1Y')).toBeNull();
    expect(isoDurationMs('PT0S')).toBeNull();
    expect(isoDurationMs('7 days')).toBeNull();
  });

  it('gives whole days for day and week durations (trial lengths)', () => {
    expect(isoDurationDays('P14D')).toBe(14);
    expect(isoDurationDays('P2W')).toBe(14);
    expect(isoDurationDays('P1M')).toBeNull();
    expect(isoDurationDays('PT12H')).toBeNull();
    expect(parseIsoDuration('P')).toBeNull();
  });
});
