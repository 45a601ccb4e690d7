import type { PlanDefinition } from '../catalog/index.ts';
import { addIsoDuration, parseIsoDuration } from '../util/duration.ts';

/**
 * Time rules of a subscription, pure:
 * - The phase timeline is laid out when a plan (version) starts: each phase from the end of the
 *   previous one, for its duration; the last runs until the subscription ends.
 * - Billing periods are anchored at the start of the current phase and step by the plan's
 *   billing cadence, clipped to the phase's end: a 14-day trial is one period, and the first
 *   paid period starts when it ends (as Stripe's trial_end becomes the billing anchor).
 * - Usage periods of metered entitlements step the same way by their `usagePeriod`.
 * - Calendar billing (`billingAnchor: { dayOfMonth }`): each phase's periods are anchored at the
 *   first such day (00:00 UTC) at or after the phase starts; the time before it is a short first
 *   period, [phase start, anchor). Its fees are prorated against the whole calendar period it
 *   belongs to (`calendarFullPeriod`), by second as every other proration in rating.ts.
 * All periods are half-open [from, to) in UTC.
 */
export interface PhaseEntry {
  key: string;
  from: Date;
  /** Exclusive end; null for the last phase. */
  to: Date | null;
  trial: boolean;
  /**
   * Where billing periods of this phase are anchored when not at `from`: a plan changed
   * mid-period keeps the period in progress (the new phase starts at the change, its periods
   * keep the old grid).
   */
  anchor?: Date;
}

export interface Period {
  from: Date;
  to: Date;
}

/** Lays the definition's phases out from `start`. `skipTrial` for plan changes: a trial is for new subscribers. */
export function layoutPhases(definition: PlanDefinition, start: Date, options: { skipTrial?: boolean } = {}) {
  const phases = definition.phases.filter((p) => !(options.skipTrial && p.trial));
  const list = phases.length > 0 ? phases : definition.phases.slice(-1);
  const entries: PhaseEntry[] = [];
  let from = start;
  list.forEach((phase, i) => {
    const last = i === list.length - 1;
    const to = !last && phase.duration ? addIsoDuration(from, phase.duration) : null;
    const anchor = definition.billingAnchor
      ? calendarAnchor(from, definition.billingAnchor.dayOfMonth)
      : from;
    entries.push({ key: phase.key, from, to, trial: phase.trial, ...(anchor > from && { anchor }) });
    if (to) from = to;
  });
  return entries;
}

/** The first instant at or after `from` that is `dayOfMonth` at 00:00 UTC. */
export function calendarAnchor(from: Date, dayOfMonth: number): Date {
  const y = from.getUTCFullYear();
  const m = from.getUTCMonth();
  const sameMonth = new Date(Date.UTC(y, m, dayOfMonth));
  return sameMonth.getTime() >= from.getTime() ? sameMonth : new Date(Date.UTC(y, m + 1, dayOfMonth));
}

/** The grid period `[anchor + k·step, anchor + (k+1)·step)` containing `at`, for any k (before the anchor too). */
function gridPeriod(anchor: Date, step: string, at: Date): Period {
  if (at >= anchor) return periodContaining(anchor, step, at);
  let k = -1;
  while (addIsoDuration(anchor, step, k).getTime() > at.getTime()) k--;
  return { from: addIsoDuration(anchor, step, k), to: addIsoDuration(anchor, step, k + 1) };
}

/**
 * For calendar billing: the whole calendar period a (short) billing period belongs to, which its
 * flat fees are prorated against; undefined when the period is whole or the plan bills on
 * anniversaries (a period clipped by a phase end keeps today's rule there: charged in full).
 */
export function calendarFullPeriod(
  definition: Pick<PlanDefinition, 'billingAnchor' | 'billingCadence'>,
  phases: readonly PhaseEntry[],
  period: Period,
): Period | undefined {
  if (!definition.billingAnchor) return undefined;
  const phase = phases[phaseIndexAt(phases, period.from)];
  if (!phase) return undefined;
  const grid = calendarAnchor(phase.anchor ?? phase.from, definition.billingAnchor.dayOfMonth);
  const whole = gridPeriod(grid, definition.billingCadence, period.from);
  const isWhole =
    whole.from.getTime() === period.from.getTime() && whole.to.getTime() === period.to.getTime();
  // A period off the calendar grid (a plan change that kept an anniversary period) is not prorated.
  const inside = period.from >= whole.from && period.to <= whole.to;
  return isWhole || !inside ? undefined : whole;
}

/** Index of the phase in force at `at` (the first one before the timeline starts). */
export function phaseIndexAt(phases: readonly PhaseEntry[], at: Date): number {
  const t = at.getTime();
  for (let i = phases.length - 1; i >= 0; i--) {
    if (phases[i]!.from.getTime() <= t) return i;
  }
  return 0;
}

/** Approximate length of a duration in ms, to jump close to the right period before stepping. */
function approxMs(duration: string): number {
  const d = parseIsoDuration(duration);
  if (!d) throw new Error(`invalid ISO 8601 duration: ${duration}`);
  return (
    (d.years * 365.2425 + d.months * 30.436875 + d.weeks * 7 + d.days) * 86_400_000 +
    d.hours * 3_600_000 +
    d.minutes * 60_000 +
    d.seconds * 1000
  );
}

/** The period of length `step` anchored at `anchor` that contains `at`, clipped to `end`. */
export function periodContaining(anchor: Date, step: string, at: Date, end: Date | null = null): Period {
  const t = at.getTime();
  const a = anchor.getTime();
  let k = t <= a ? 0 : Math.max(0, Math.floor((t - a) / approxMs(step)) - 1);
  // Steps are computed from the anchor (k × step), so month ends do not drift (Jan 31 → Feb 28 → Mar 31).
  while (k > 0 && addIsoDuration(anchor, step, k).getTime() > t) k--;
  while (addIsoDuration(anchor, step, k + 1).getTime() <= t) k++;
  const from = addIsoDuration(anchor, step, k);
  let to = addIsoDuration(anchor, step, k + 1);
  if (end && to.getTime() > end.getTime()) to = end;
  return { from, to };
}

/** The billing period containing `at`. */
export function billingPeriodAt(phases: readonly PhaseEntry[], cadence: string, at: Date): Period {
  const phase = phases[phaseIndexAt(phases, at)]!;
  const t = at < phase.from ? phase.from : at;
  if (phase.anchor && phase.anchor > phase.from && t < phase.anchor) {
    // Calendar billing before the first anchor: the grid stepped back, clipped to the phase.
    const { from, to } = gridPeriod(phase.anchor, cadence, t);
    return {
      // biome-ignore lint/complexity/useMathMinMax: Dates; Math.max would give a number.
      from: from < phase.from ? phase.from : from,
      to: phase.to && phase.to < to ? phase.to : to,
    };
  }
  return periodContaining(phase.anchor ?? phase.from, cadence, t, phase.to);
}

/** The usage period of a metered entitlement containing `at`. */
export function usagePeriodAt(phases: readonly PhaseEntry[], usagePeriod: string, at: Date): Period {
  return billingPeriodAt(phases, usagePeriod, at);
}

/** JSON form stored in the database. */
export interface StoredPhaseEntry {
  key: string;
  from: string;
  to: string | null;
  trial: boolean;
  anchor?: string;
}

export const phasesToJson = (phases: readonly PhaseEntry[]): StoredPhaseEntry[] =>
  phases.map((p) => ({
    key: p.key,
    from: p.from.toISOString(),
    to: p.to?.toISOString() ?? null,
    trial: p.trial,
    ...(p.anchor && { anchor: p.anchor.toISOString() }),
  }));

export const phasesFromJson = (phases: readonly StoredPhaseEntry[]): PhaseEntry[] =>
  phases.map((p) => ({
    key: p.key,
    from: new Date(p.from),
    to: p.to ? new Date(p.to) : null,
    trial: p.trial,
    ...(p.anchor && { anchor: new Date(p.anchor) }),
  }));
