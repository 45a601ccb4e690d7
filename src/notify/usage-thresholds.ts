import { sql } from 'kysely';
import { ProblemError } from '../http/problem.ts';
import type { Clock } from '../util/clock.ts';
import type { Logger } from '../util/log.ts';
import type { WebhookService } from './webhooks.ts';

/**
 * `usage.threshold` webhooks: when a customer's usage of a metered feature reaches a configured
 * share of its entitlement in the current usage period (`notifications.usageThresholds`, default
 * 80 % and 100 %), one event per customer, feature, usage period and threshold. Thresholds above
 * 100 report overage on soft limits. Usage grows between checks, so several thresholds crossed at
 * once each get their event.
 *
 * The check runs on a schedule on one worker at a time (`scheduleExclusive`). What was sent is
 * recorded in `notify_usage_thresholds` in the same transaction as the event, so a restart, a
 * second worker or an overlapping run never sends one twice and never loses one.
 */
export const USAGE_THRESHOLD_EVENT = 'usage.threshold';

/** A metered entitlement's standing, as the subscriptions module's balance reader reports it. */
export interface UsageBalance {
  featureKey: string;
  type: string;
  limit: number | null;
  usage: number | null;
  periodStart: string | null;
  resetAt: string | null;
}

export interface UsageThresholdDeps {
  clock: Clock;
  log: Logger;
  webhooks: WebhookService;
  /** Percentages of the entitlement, ascending (read on every run: a reloaded config applies). */
  thresholds: () => readonly number[];
  /** Customers with a live subscription. */
  customers: () => Promise<string[]>;
  /**
   * Customers with metered usage since `since` (e.g. from the meters, grouped by subject). With
   * it, a run checks only them; every customer is checked on a process's first run and every
   * `FULL_CHECK_MS` (usage imported with old timestamps, limits lowered by a plan change).
   */
  recentCustomers?: (since: Date) => Promise<string[]>;
  balances: (
    customerId: string,
  ) => Promise<{ subscriptionId: string | null; balances: readonly UsageBalance[] }>;
  /** The meter behind a feature, for the payload. */
  meterOf: (featureKey: string) => string | null;
}

export interface UsageThresholds {
  /** Checks one customer; returns the events sent. */
  evaluate(customerId: string): Promise<number>;
  /** Checks every customer with a live subscription; returns the events sent. */
  evaluateAll(): Promise<number>;
}

/** How often a run checks every live customer rather than those with recent usage. */
export const FULL_CHECK_MS = 10 * 60_000;
/** Usage reaches the meters a little after it happens (the usage log is consumed in batches). */
const INGEST_SLACK_MS = 60_000;

export function usageThresholds(deps: UsageThresholdDeps): UsageThresholds {
  const { clock, log, webhooks } = deps;
  let lastRunAt: Date | null = null;
  let lastFullAt: Date | null = null;

  async function evaluate(customerId: string): Promise<number> {
    const thresholds = deps.thresholds();
    if (thresholds.length === 0) return 0;
    const { subscriptionId, balances } = await deps.balances(customerId);
    let sent = 0;
    for (const b of balances) {
      if (b.type !== 'metered' || !b.limit || b.limit <= 0 || b.usage === null || !b.periodStart) continue;
      const { usage, limit, periodStart } = b;
      // usage / limit ≥ threshold %, in integers (no float division at the boundary).
      for (const threshold of thresholds.filter((t) => usage * 100 >= t * limit)) {
        const periodFrom = new Date(periodStart);
        const data = {
          customerId,
          subscriptionId,
          feature: b.featureKey,
          meter: deps.meterOf(b.featureKey),
          threshold,
          usage,
          limit,
          period: { from: periodFrom.toISOString(), to: b.resetAt },
        };
        const messageId = await webhooks.emitOnce(USAGE_THRESHOLD_EVENT, data, async (tx) => {
          const { rows } = await sql`insert into notify_usage_thresholds
              (customer_id, feature_key, period_start, threshold, subscription_id, usage, limit_value, crossed_at)
            values (${customerId}, ${b.featureKey}, ${periodFrom}, ${threshold}, ${subscriptionId}, ${usage}, ${limit}, ${clock.now()})
            on conflict do nothing returning customer_id`.execute(tx);
          return rows.length > 0;
        });
        if (messageId) {
          sent++;
          log.info({ customerId, feature: b.featureKey, threshold, usage, limit }, 'usage threshold reached');
        }
      }
    }
    return sent;
  }

  return {
    evaluate,
    async evaluateAll() {
      if (deps.thresholds().length === 0) return 0;
      const startedAt = clock.now();
      const full =
        !deps.recentCustomers ||
        lastRunAt === null ||
        lastFullAt === null ||
        startedAt.getTime() - lastFullAt.getTime() >= FULL_CHECK_MS;
      const customerIds = full
        ? await deps.customers()
        : await (deps.recentCustomers as NonNullable<typeof deps.recentCustomers>)(
            new Date((lastRunAt as Date).getTime() - INGEST_SLACK_MS),
          );
      let sent = 0;
      for (const customerId of customerIds) {
        try {
          sent += await evaluate(customerId);
        } catch (error) {
          // Usage of a subject that is not (or no longer) a customer has nothing to check.
          if (error instanceof ProblemError && error.status === 404) continue;
          log.warn({ err: error, customerId }, 'usage threshold check failed');
        }
      }
      lastRunAt = startedAt;
      if (full) lastFullAt = startedAt;
      return sent;
    },
  };
}

const LIVE_STATUSES = ['active', 'trialing', 'past_due'] as const;

/** `customers` for the job from the subscriptions service: every customer with a live subscription. */
export function liveCustomersOf(subscriptions: {
  list(filter: {
    status: (typeof LIVE_STATUSES)[number];
    limit: number;
    offset: number;
  }): Promise<{ customerId: string }[]>;
}): () => Promise<string[]> {
  const PAGE = 1000;
  return async () => {
    const ids = new Set<string>();
    for (const status of LIVE_STATUSES) {
      for (let offset = 0; ; offset += PAGE) {
        const page = await subscriptions.list({ status, limit: PAGE, offset });
        for (const s of page) ids.add(s.customerId);
        if (page.length < PAGE) break;
      }
    }
    return [...ids];
  };
}

/**
 * `recentCustomers` for the job from the meter reader: the customers with events on any meter
 * since then. A subject key is its customer's id, or a key `ownersOf` maps to its customer
 * (OpenMeter's usageAttribution.subjectKeys).
 */
export function recentCustomersOf(
  reader: () => {
    query(params: { meterSlug: string; from: Date; groupBy: string[] }): Promise<{
      data: { subject: string | null }[];
    }>;
  } | null,
  meterSlugs: () => readonly string[],
  ownersOf: (subjects: string[]) => Promise<Map<string, string>> = async () => new Map(),
): (since: Date) => Promise<string[]> {
  return async (since) => {
    const meters = reader();
    const subjects = new Set<string>();
    if (!meters) return [];
    for (const meterSlug of meterSlugs()) {
      const result = await meters.query({ meterSlug, from: since, groupBy: ['subject'] });
      for (const row of result.data) if (row.subject) subjects.add(row.subject);
    }
    const owners = subjects.size > 0 ? await ownersOf([...subjects]) : new Map<string, string>();
    return [...new Set([...subjects].map((s) => owners.get(s) ?? s))];
  };
}
