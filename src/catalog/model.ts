import type {
  EntitlementConfig,
  IncludedCreditsConfig,
  PhaseConfig,
  PriceConfig,
  RateCardConfig,
  RateLimitConfig,
} from '../config/index.ts';

/**
 * The catalog as stored: features, plans and their published versions. A plan version's
 * definition is the plan of `tollgate.config.ts` normalized (the `rateCards` shorthand and
 * `trialDays` become explicit phases), so readers never handle two shapes.
 */
export type { EntitlementConfig, IncludedCreditsConfig, PriceConfig, RateCardConfig, RateLimitConfig };

export interface Feature {
  key: string;
  name: string;
  description: string | null;
  /** Meter whose value is this feature's usage (metered features). */
  meter: string | null;
  meterGroupByFilters: Record<string, string>;
  archivedAt: Date | null;
}

export interface PhaseDefinition {
  key: string;
  name?: string;
  /** ISO 8601 duration; absent on the last phase. */
  duration?: string;
  trial: boolean;
  rateCards: RateCardConfig[];
  /** The phase's steady rate limit, falling back to the plan's. */
  rateLimit?: RateLimitConfig;
  /** Prepaid credits granted at the start of each billing period of the phase. */
  credits?: IncludedCreditsConfig;
}

/** A plan exactly as a version publishes it. */
export interface PlanDefinition {
  key: string;
  name: string;
  description?: string;
  currency: string;
  billingCadence: string;
  /** Calendar billing: periods start on this day of the month (00:00 UTC). Absent: anniversary. */
  billingAnchor?: { dayOfMonth: number };
  public: boolean;
  rateLimit?: RateLimitConfig;
  phases: PhaseDefinition[];
}

export type PlanStatus = 'active' | 'archived';

export interface Plan {
  key: string;
  name: string;
  status: PlanStatus;
  latestVersion: number;
  createdAt: Date;
  archivedAt: Date | null;
}

export interface PlanVersion {
  id: string;
  planKey: string;
  version: number;
  definition: PlanDefinition;
  publishedAt: Date;
}

export type { PhaseConfig };
