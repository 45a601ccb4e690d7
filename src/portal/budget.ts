import { Decimal } from 'decimal.js';
import type { Kysely } from 'kysely';
import { ProblemError } from '../http/problem.ts';
import type { BaseDatabase } from '../store/index.ts';
import type { Clock } from '../util/clock.ts';
import type { Logger } from '../util/log.ts';
import { formatMoney } from '../util/money.ts';
import type {
  BillingPort,
  EntitlementBalance,
  MoneyLine,
  SubscriptionsPort,
  WebhookPort,
} from './dependencies.ts';
import type { PortalMailer } from './portal-mailer.ts';
import type { AlertRow, PortalRepo } from './repo.ts';

/**
 * Cost to date, end-of-period forecast, budget alerts and the hard spend cap.
 *
 * Forecast: flat lines stay as they are; usage lines are extrapolated linearly over the period
 * (usage so far ÷ elapsed share of the period). Alerts fire once per alert and billing period
 * (email, webhook, banner). The spend cap is checked by the gateway synchronously from a cache
 * that the evaluator refreshes (every few seconds and after each portal change).
 */
export interface CostSummary {
  currency: string;
  costToDate: string;
  forecast: string;
  periodFrom: string;
  periodTo: string;
  lines: MoneyLine[];
}

export function forecastOf(lines: MoneyLine[], from: Date, to: Date, now: Date): Decimal {
  const total = to.getTime() - from.getTime();
  const elapsed = Math.min(Math.max(now.getTime() - from.getTime(), 0), total);
  let flat = new Decimal(0);
  let usage = new Decimal(0);
  for (const line of lines) {
    if (line.kind === 'usage') usage = usage.plus(line.amount);
    else flat = flat.plus(line.amount);
  }
  if (elapsed <= 0 || total <= 0) return flat.plus(usage);
  return flat.plus(usage.times(total).dividedBy(elapsed));
}

/** An alert's threshold reached: what it says and the period it fired in. */
interface Firing {
  message: string;
  periodStart: Date;
}

/** Whether `alert` is reached by the period's cost or included usage, and what it then says. */
function firingOf(
  alert: AlertRow,
  summary: CostSummary | null,
  balances: EntitlementBalance[],
): Firing | null {
  if (alert.kind === 'amount') {
    if (!summary || new Decimal(summary.costToDate).lt(alert.threshold)) return null;
    return {
      message: `Spend this period reached ${summary.costToDate} ${summary.currency} (alert at ${new Decimal(alert.threshold).toFixed(2)} ${summary.currency}).`,
      periodStart: new Date(summary.periodFrom),
    };
  }
  for (const b of balances) {
    if (b.limit === null || b.limit === 0) continue;
    if (alert.feature_key && alert.feature_key !== b.featureKey) continue;
    const percent = (b.usage / b.limit) * 100;
    if (percent >= Number(alert.threshold)) {
      return {
        message: `${b.featureName} usage reached ${Math.floor(percent)}% of the ${b.limit.toLocaleString('en-US')} included this period (alert at ${Number(alert.threshold)}%).`,
        periodStart: new Date(b.periodStart),
      };
    }
  }
  return null;
}

export interface BudgetDeps {
  repo: PortalRepo;
  clock: Clock;
  log: Logger;
  mailer: PortalMailer;
  billing?: () => BillingPort | undefined;
  subscriptions?: () => SubscriptionsPort | undefined;
  webhooks?: () => WebhookPort | undefined;
  emailsOf(customerId: string): Promise<string[]>;
  link(path: string): string;
}

export function budgetService(deps: BudgetDeps) {
  const { repo, clock } = deps;
  /** customerId → the problem the gateway answers while the cap is reached. */
  const capped = new Map<string, ProblemError>();

  async function cost(customerId: string): Promise<CostSummary | null> {
    const billing = deps.billing?.();
    if (!billing) return null;
    const upcoming = await billing.upcoming(customerId);
    if (!upcoming) return null;
    const from = new Date(upcoming.periodFrom);
    const to = new Date(upcoming.periodTo);
    return {
      currency: upcoming.currency,
      costToDate: formatMoney(upcoming.total, upcoming.currency),
      forecast: formatMoney(
        upcoming.forecast ?? forecastOf(upcoming.lines, from, to, clock.now()),
        upcoming.currency,
      ),
      periodFrom: upcoming.periodFrom,
      periodTo: upcoming.periodTo,
      lines: upcoming.lines,
    };
  }

  async function evaluate(customerId: string, options: { alerts?: boolean } = {}): Promise<void> {
    const [alerts, cap, summary] = await Promise.all([
      options.alerts === false ? Promise.resolve([]) : repo.alerts(customerId),
      repo.spendCap(customerId),
      cost(customerId).catch(() => null),
    ]);
    if (cap && summary && new Decimal(summary.costToDate).gte(cap.amount)) {
      capped.set(
        customerId,
        new ProblemError({
          status: 402,
          type: 'spend-cap-reached',
          title: 'Spend cap reached',
          detail: `This organisation reached its spend cap of ${cap.amount} ${cap.currency} for the current period. Raise or remove the cap in the portal.`,
          extensions: { cap: cap.amount, costToDate: summary.costToDate, upgradeUrl: deps.link('/budget') },
        }),
      );
    } else {
      capped.delete(customerId);
    }
    if (alerts.length === 0) return;
    let balances: EntitlementBalance[] = [];
    const subs = deps.subscriptions?.();
    if (subs && alerts.some((a) => a.kind === 'quota_percent')) {
      balances = await subs.balances(customerId).catch(() => []);
    }
    for (const alert of alerts) {
      const firing = firingOf(alert, summary, balances);
      if (!firing) continue;
      await fire(alert, customerId, firing).catch((error) =>
        deps.log.warn({ err: error, alertId: alert.id }, 'budget alert not fired; retried at the next check'),
      );
    }
  }

  /**
   * Records the firing and writes its `budget.alert` event in one transaction (the webhooks'
   * outbox, to the operator's endpoints and the customer's own), so an alert is never marked fired
   * without its event, nor sent twice; if either write fails, neither is kept and the next check
   * fires it again. The mail goes out once that transaction has committed.
   */
  async function fire(alert: AlertRow, customerId: string, firing: Firing): Promise<void> {
    const { message, periodStart } = firing;
    const data = {
      customerId,
      alertId: alert.id,
      kind: alert.kind,
      threshold: String(alert.threshold),
      message,
    };
    const record = (tx?: Kysely<BaseDatabase>) =>
      repo.recordFiring(alert.id, customerId, periodStart, message, tx);
    const webhooks = deps.webhooks?.();
    const fired = webhooks
      ? (await webhooks.emitOnce('budget.alert', data, record, { customerId })) !== null
      : await record();
    if (!fired) return;
    deps.log.info({ customerId, alertId: alert.id }, 'budget alert fired');
    if (!alert.email) return;
    for (const to of await deps.emailsOf(customerId)) {
      await deps.mailer
        .send({ to, subject: 'Budget alert', text: `${message}\n\nSee your usage: ${deps.link('/usage')}\n` })
        .catch((error) => deps.log.warn({ err: error }, 'budget alert mail failed'));
    }
  }

  return {
    cost,
    evaluate,
    /** For the AccessResolver: the problem to answer while the customer's spend cap is reached. */
    checkSpendCap(customerId: string): ProblemError | null {
      return capped.get(customerId) ?? null;
    },
    /**
     * Re-checks spend caps (and, with `alerts`, budget alerts) of every customer that has one.
     * Gateway nodes check caps only (they enforce them); one worker fires alerts (fired once per
     * period in the store anyway). Customers capped here but whose cap was removed elsewhere are
     * re-checked too, so the gateway lets them through again.
     */
    async evaluateAll(options: { alerts?: boolean } = {}): Promise<void> {
      const withAlerts = options.alerts !== false;
      const ids = new Set(withAlerts ? (await repo.allAlertCustomers()).map((r) => r.customer_id) : []);
      for (const c of await repo.allCapCustomers()) ids.add(c.customer_id);
      for (const id of capped.keys()) ids.add(id);
      for (const id of ids) {
        await evaluate(id, { alerts: withAlerts }).catch((error) =>
          deps.log.warn({ err: error }, 'budget check failed'),
        );
      }
    },
  };
}

export type BudgetService = ReturnType<typeof budgetService>;
