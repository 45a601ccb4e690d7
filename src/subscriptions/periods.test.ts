import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { PlanDefinition } from '../catalog/index.ts';
import { billingPeriodAt, calendarFullPeriod, layoutPhases, usagePeriodAt } from './periods.ts';

const d = (iso: string) => new Date(iso);
const iso = (p: { from: Date; to: Date } | undefined) => p && [p.from.toISOString(), p.to.toISOString()];

function plan(extra: Partial<PlanDefinition> = {}): PlanDefinition {
  return {
    key: 'pro',
    name: 'Pro',
    currency: 'USD',
    billingCadence: 'P1M',
    public: true,
    phases: [{ key: 'default', trial: false, rateCards: [] }],
    ...extra,
  };
}

describe('calendar billing periods', () => {
  const calendar = plan({ billingAnchor: { dayOfMonth: 1 } });

  it('a subscription started on Jan 15 is billed [Jan 15, Feb 1), then whole months from the 1st', () => {
    const phases = layoutPhases(calendar, d('2026-01-15T09:30:00Z'));
    expect(iso(billingPeriodAt(phases, 'P1M', d('2026-01-20T00:00:00Z')))).toEqual([
      '2026-01-15T09:30:00.000Z',
      '2026-02-01T00:00:00.000Z',
    ]);
    expect(iso(billingPeriodAt(phases, 'P1M', d('2026-02-01T00:00:00Z')))).toEqual([
      '2026-02-01T00:00:00.000Z',
      '2026-03-01T00:00:00.000Z',
    ]);
    // The first period is prorated against the whole of January.
    const first = billingPeriodAt(phases, 'P1M', d('2026-01-15T09:30:00Z'));
    expect(iso(calendarFullPeriod(calendar, phases, first))).toEqual([
      '2026-01-01T00:00:00.000Z',
      '2026-02-01T00:00:00.000Z',
    ]);
    expect(
      calendarFullPeriod(calendar, phases, billingPeriodAt(phases, 'P1M', d('2026-02-10T00:00:00Z'))),
    ).toBe(undefined);
  });

  it('any anchor day: the 15th', () => {
    const phases = layoutPhases(plan({ billingAnchor: { dayOfMonth: 15 } }), d('2026-01-20T00:00:00Z'));
    expect(iso(billingPeriodAt(phases, 'P1M', d('2026-01-20T00:00:00Z')))).toEqual([
      '2026-01-20T00:00:00.000Z',
      '2026-02-15T00:00:00.000Z',
    ]);
  });

  it('anniversary billing is kept when no anchor is set', () => {
    const phases = layoutPhases(plan(), d('2026-01-15T09:30:00Z'));
    expect(iso(billingPeriodAt(phases, 'P1M', d('2026-01-20T00:00:00Z')))).toEqual([
      '2026-01-15T09:30:00.000Z',
      '2026-02-15T09:30:00.000Z',
    ]);
  });

  it('a 14-day trial inside a calendar month: trial [Jan 15, Jan 29), then [Jan 29, Feb 1) prorated', () => {
    const withTrial = plan({
      billingAnchor: { dayOfMonth: 1 },
      phases: [
        { key: 'trial', trial: true, duration: 'P14D', rateCards: [] },
        { key: 'default', trial: false, rateCards: [] },
      ],
    });
    const phases = layoutPhases(withTrial, d('2026-01-15T00:00:00Z'));
    expect(iso(billingPeriodAt(phases, 'P1M', d('2026-01-16T00:00:00Z')))).toEqual([
      '2026-01-15T00:00:00.000Z',
      '2026-01-29T00:00:00.000Z',
    ]);
    const paid = billingPeriodAt(phases, 'P1M', d('2026-01-29T00:00:00Z'));
    expect(iso(paid)).toEqual(['2026-01-29T00:00:00.000Z', '2026-02-01T00:00:00.000Z']);
    expect(iso(calendarFullPeriod(withTrial, phases, paid))).toEqual([
      '2026-01-01T00:00:00.000Z',
      '2026-02-01T00:00:00.000Z',
    ]);
  });

  it('usage periods of a daily quota stay daily before the first calendar anchor', () => {
    const phases = layoutPhases(calendar, d('2026-01-15T00:00:00Z'));
    expect(iso(usagePeriodAt(phases, 'P1D', d('2026-01-20T12:00:00Z')))).toEqual([
      '2026-01-20T00:00:00.000Z',
      '2026-01-21T00:00:00.000Z',
    ]);
  });

  it('property: periods tile time without gaps or overlaps, and every one after the first starts on the anchor day', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 365 * 86_400 }),
        fc.integer({ min: 1, max: 28 }),
        (offset, day) => {
          const start = new Date(Date.UTC(2026, 0, 1) + offset * 1000);
          const phases = layoutPhases(plan({ billingAnchor: { dayOfMonth: day } }), start);
          let at = start;
          for (let i = 0; i < 14; i++) {
            const p = billingPeriodAt(phases, 'P1M', at);
            expect(p.from.getTime()).toBe(at.getTime());
            expect(p.to.getTime()).toBeGreaterThan(p.from.getTime());
            expect(p.to.getUTCDate()).toBe(day);
            expect(p.to.getUTCHours()).toBe(0);
            at = p.to;
          }
        },
      ),
      { seed: 42, numRuns: 200 },
    );
  });
});
