import type { RateCardConfig } from '../config/schema.ts';
import type { Decimal } from '../util/money.ts';
import type { TierBreakdown } from './rating-prices.ts';
import type { TakeRateTotals } from './rating-take-rates.ts';

/** What the rating engine (rating.ts) takes and gives: segments of a period in, invoice lines out. */

export interface RatingSegment {
  from: Date;
  to: Date;
  planKey: string;
  planVersion: number;
  phaseKey?: string;
  trial?: boolean;
  rateCards: readonly RateCardConfig[];
  /** Usage per feature key in this segment (decimal string or number). */
  usage: Readonly<Record<string, Decimal.Value>>;
  /** Take-rate prices applied to the segment's transactions, per rate card key. */
  transactions?: Readonly<Record<string, TakeRateTotals>>;
  /**
   * Calendar billing: the whole calendar period a short billing period belongs to; flat fees and
   * commitments are prorated by `period / fullPeriod` (by second). Absent: the period is whole.
   */
  fullPeriod?: { from: Date; to: Date };
}

export interface RatingInput {
  period: { from: Date; to: Date };
  currency: string;
  segments: readonly RatingSegment[];
}

export type LineKind =
  | 'flat'
  | 'usage'
  | 'proration_credit'
  | 'proration_charge'
  | 'minimum_spend'
  | 'maximum_spend'
  | 'discount'
  | 'trial';

export interface RatedLine {
  /** Stable within a subscription period: the same input gives the same keys. */
  key: string;
  kind: LineKind;
  rateCardKey: string;
  featureKey: string | null;
  planKey: string;
  planVersion: number;
  description: string;
  periodFrom: Date;
  periodTo: Date;
  timing: 'in_advance' | 'in_arrears';
  quantity: string;
  unitPrice: string | null;
  /** Rounded once, half-up, to the currency's minor unit; fixed-point string. */
  amount: string;
  tiers?: TierBreakdown[];
}
