import { sql } from 'kysely';
import type { CatalogService } from '../catalog/index.ts';
import type { PriceConfig, RateCardConfig, ResolvedConfig } from '../config/index.ts';
import { problems } from '../http/problem.ts';
import type { MeterReader } from '../metering/query.ts';
import { meterValueRows } from '../metering/subject-values.ts';
import type { Store } from '../store/index.ts';
import {
  applyOverrides,
  applyPricingHook,
  type CustomerService,
  calendarFullPeriod,
  type Subscription,
  type SubscriptionSegment,
  type SubscriptionService,
} from '../subscriptions/index.ts';
import { Decimal } from '../util/money.ts';
import type { BillingSegment, BillingSubscription, Db, SubscriptionPort, UsagePort } from './model.ts';
import {
  NO_TRANSACTIONS,
  type PercentagePrice,
  type TakeRateTotals,
  takeRateSql,
} from './rating-take-rates.ts';

/**
 * Adapters from the subscriptions, catalog and metering modules to billing's ports.
 *
 * Due periods come from `subscription_periods` (every period rollover closed or the current one
 * once it has ended) that have no period invoice yet, so billing never misses a period even
 * when subscriptions were rolled over by someone else first.
 */
export function subscriptionPort(deps: {
  store: Store;
  config: ResolvedConfig;
  subscriptions: SubscriptionService;
  customers: CustomerService;
  catalog: CatalogService;
}): SubscriptionPort {
  const { store, subscriptions, customers, catalog, config } = deps;
  // Subscriptions read by the last listDue batch, so rating them does not read them again.
  const batch = new Map<string, Subscription>();
  const history = new Map<string, SubscriptionSegment[]>();

  function toBilling(sub: Subscription, currency: string, period = sub.currentPeriod): BillingSubscription {
    return {
      id: sub.id,
      customerId: sub.customerId,
      status: sub.status,
      planKey: sub.planKey,
      planVersion: sub.planVersion,
      currency,
      currentPeriod: { from: new Date(period.from), to: new Date(period.to) },
    };
  }

  async function currencyOf(sub: Subscription): Promise<string> {
    const version = await subscriptions.planVersionOf(sub);
    return version.definition.currency ?? 'USD';
  }

  function priced(
    rateCards: RateCardConfig[],
    ctx: {
      customer: { id: string; name: string; metadata: Record<string, unknown> };
      planKey: string;
      version: number;
      currency: string;
    },
  ) {
    const hook = config.billing.pricing;
    if (!hook) return rateCards;
    return rateCards.map((rc) => {
      const price = rc.price;
      if (!price) return rc;
      if (price.type === 'tiered' || price.type === 'percentage') {
        // Config load refuses plans like this; a contract override can still add one. Billing the
        // list price would be a silent wrong invoice, so the subscription fails (and is reported).
        throw problems.badRequest(
          `billing.pricing cannot apply to the ${price.type} price of rate card "${rc.key}" (plan ${ctx.planKey} v${ctx.version}); use a discount instead`,
        );
      }
      const amount = applyPricingHook(hook, {
        customer: ctx.customer,
        plan: { key: ctx.planKey, version: ctx.version },
        rateCardKey: rc.key,
        amount: price.amount,
        currency: ctx.currency,
      });
      return { ...rc, price: { ...price, amount } as PriceConfig };
    });
  }

  return {
    async get(id) {
      const sub = await subscriptions.get(id);
      return sub ? toBilling(sub, await currencyOf(sub)) : null;
    },
    async listDue(asOf, afterId, limit) {
      // Lists ended periods without a period invoice; `currentPeriod` is the period to bill.
      // Subscriptions' periods joined with billing's tables in one statement: a typed `sql` template.
      const { rows } = await sql<{
        id: string;
        period_start: Date;
        period_end: Date;
        has_credits: boolean;
        has_prior: boolean;
        has_discounts: boolean;
      }>`select p.subscription_id as id, p.period_start, p.period_end,
                exists (select 1 from subscriptions s join billing_credit_ledger l on l.customer_id = s.customer_id
                        where s.id = p.subscription_id) as has_credits,
                exists (select 1 from billing_invoices f where f.subscription_id = p.subscription_id
                        and f.period_from = p.period_start) as has_prior,
                exists (select 1 from subscriptions s join billing_discounts d on d.customer_id = s.customer_id
                        where s.id = p.subscription_id and d.removed_at is null) as has_discounts
         from subscription_periods p
         where p.period_end <= ${asOf} and (${afterId}::text is null or p.subscription_id > ${afterId})
           and not exists (select 1 from billing_invoices i where i.subscription_id = p.subscription_id
                           and i.period_from = p.period_start and i.idempotency_key not like '%:first:%')
         order by p.subscription_id, p.period_start limit ${limit}`.execute(store.db);
      const out: BillingSubscription[] = [];
      const seen = new Set<string>();
      batch.clear();
      history.clear();
      // The batch's subscriptions and segment histories in one query each.
      const ids = [...new Set(rows.map((r) => r.id))];
      const subs = new Map((await subscriptions.getMany(ids)).map((s) => [s.id, s]));
      for (const [id, segments] of await subscriptions.segmentsMany(ids)) history.set(id, segments);
      for (const r of rows) {
        if (seen.has(r.id)) continue; // one period per subscription per batch, oldest first
        seen.add(r.id);
        const sub = subs.get(r.id);
        if (!sub) continue;
        batch.set(sub.id, sub);
        out.push({
          ...toBilling(sub, await currencyOf(sub), {
            from: new Date(r.period_start),
            to: new Date(r.period_end),
          }),
          hints: { hasCredits: r.has_credits, hasPriorInvoice: r.has_prior, hasDiscounts: r.has_discounts },
        });
      }
      return out;
    },
    async listForCustomer(customerId) {
      const subs = await subscriptions.list({ customerId });
      return Promise.all(subs.map(async (s) => toBilling(s, await currencyOf(s))));
    },
    async segments(billingSub, period) {
      const sub = batch.get(billingSub.id) ?? (await subscriptions.require(billingSub.id));
      batch.delete(billingSub.id);
      // The customer is only needed by the pricing hook.
      const customer = config.billing.pricing ? await customers.get(sub.customerId) : null;
      const prefetched = history.get(sub.id);
      history.delete(sub.id);
      const segmentHistory = prefetched ?? (await subscriptions.segments(sub.id));
      const out: BillingSegment[] = [];
      const cuts = new Set<number>([period.from.getTime(), period.to.getTime()]);
      for (const s of segmentHistory) {
        cuts.add(s.from.getTime());
        if (s.to) cuts.add(s.to.getTime());
      }
      for (const p of sub.phases) {
        cuts.add(p.from.getTime());
        if (p.to) cuts.add(p.to.getTime());
      }
      const points = [...cuts]
        .filter((t) => t >= period.from.getTime() && t <= period.to.getTime())
        .sort((a, b) => a - b);
      for (let i = 0; i + 1 < points.length; i++) {
        const from = new Date(points[i] as number);
        const to = new Date(points[i + 1] as number);
        const seg = segmentHistory.find((s) => s.from <= from && (s.to === null || s.to > from));
        if (!seg) continue; // before the subscription started or after it ended
        const phase = sub.phases.find((p) => p.from <= from && (p.to === null || p.to > from));
        const version = await catalog.getPlanVersionById(seg.planVersionId);
        if (!version) continue;
        const effective = applyOverrides(
          version.definition,
          version.version,
          phase?.key ?? '',
          seg.overrides,
        );
        const rateCards = priced(effective.rateCards, {
          customer: {
            id: sub.customerId,
            name: customer?.name ?? sub.customerId,
            metadata: customer?.metadata ?? {},
          },
          planKey: seg.planKey,
          version: seg.planVersion,
          currency: effective.currency,
        });
        const last = out[out.length - 1];
        if (
          last &&
          last.planKey === seg.planKey &&
          last.planVersion === seg.planVersion &&
          last.phaseKey === effective.phaseKey &&
          JSON.stringify(last.rateCards) === JSON.stringify(rateCards)
        ) {
          last.to = to; // same terms: one segment
          continue;
        }
        const fullPeriod = calendarFullPeriod(version.definition, sub.phases, period);
        out.push({
          from,
          to,
          planKey: seg.planKey,
          planVersion: seg.planVersion,
          phaseKey: effective.phaseKey,
          trial: effective.trial,
          rateCards,
          ...(fullPeriod && { fullPeriod }),
        });
      }
      return out;
    },
    async rollOver(id) {
      await subscriptions.rollover(id); // no-op until the period has ended by the subscriptions' clock
    },
    async rollOverMany(ids) {
      await subscriptions.rolloverMany(ids);
    },
    async markPastDue(id) {
      await subscriptions.markPastDue(id);
    },
    async suspend(id) {
      await subscriptions.suspend(id);
    },
    async reactivate(id) {
      await subscriptions.reactivate(id);
    },
    async customer(id) {
      const c = await customers.get(id);
      return c ? { id: c.id, name: c.name, email: c.email } : null;
    },
    async cancel(id) {
      await subscriptions.cancel(id, { timing: 'now' });
    },
    async subscribe(customerId, planKey, inTransaction) {
      const existing = await subscriptions.currentForCustomer(customerId);
      // What must happen with the subscription (a coupon's redemption) runs in the transaction
      // that creates or changes it: a refusal leaves neither, a failed change leaves no redemption.
      const within = inTransaction
        ? { inTransaction: (tx: Db, s: Subscription) => inTransaction(tx, s.id) }
        : {};
      if (existing && existing.planKey === planKey && inTransaction)
        await store.transaction((tx) => inTransaction(tx, existing.id));
      const sub =
        existing && existing.planKey === planKey
          ? existing
          : existing
            ? await subscriptions.changePlan(existing.id, { planKey, timing: 'now', ...within })
            : await subscriptions.subscribe({ customerId, planKey, ...within });
      return toBilling(sub, await currencyOf(sub));
    },
  };
}

/** Usage per feature from the meters (every subject key of the customer), over [from, to). */
export function meterUsagePort(
  config: ResolvedConfig,
  reader: () => MeterReader | null,
  /** The metering store, for take rates: rated per event where the events are. */
  db?: Db,
  now: () => Date = () => new Date(),
): UsagePort {
  // Take rates of ended periods, for every customer at once: the billing run asks for thousands
  // of customers' same period, and one pass over the period's events answers them all. Kept a
  // minute (one run); a period still running is always read afresh.
  const ended = new Map<string, { at: number; totals: Promise<Map<string, TakeRateTotals>> }>();
  return {
    async usage(customerId, _subscriptionId, featureKeys, from, to) {
      const out: Record<string, string> = {};
      const meterReader = reader();
      for (const key of featureKeys) {
        const feature = config.features.find((f) => f.key === key);
        if (!feature?.meter || !meterReader) {
          out[key] = '0';
          continue;
        }
        const result = await meterReader.query({
          meterSlug: feature.meter,
          from,
          to,
          customer: customerId,
          ...(feature.meterGroupByFilters ? { filterGroupBy: feature.meterGroupByFilters } : {}),
        });
        out[key] = result.data.reduce((acc, row) => acc.add(row.value), new Decimal(0)).toString();
      }
      return out;
    },
    ...(db && {
      async transactions(
        customerId: string,
        featureKey: string,
        price: PercentagePrice,
        from: Date,
        to: Date,
      ) {
        const feature = config.features.find((f) => f.key === featureKey);
        if (!feature?.meter) return NO_TRANSACTIONS;
        const filters = feature.meterGroupByFilters ?? {};
        const t = now().getTime();
        if (to.getTime() > t) {
          const [one] = (
            await meterTransactions(db, feature.meter, filters, customerId, price, { from, to })
          ).values();
          return one ?? NO_TRANSACTIONS;
        }
        const key = JSON.stringify([feature.meter, filters, price, from, to]);
        let hit = ended.get(key);
        if (!hit || t - hit.at > 60_000 || t < hit.at) {
          for (const [k, v] of ended) if (t - v.at > 60_000 || t < v.at) ended.delete(k);
          hit = { at: t, totals: meterTransactions(db, feature.meter, filters, null, price, { from, to }) };
          ended.set(key, hit);
          hit.totals.catch(() => ended.delete(key));
        }
        return (await hit.totals).get(customerId) ?? NO_TRANSACTIONS;
      },
    }),
  };
}

/**
 * Σ clamp(rate × value + fee, min, max) over a customer's meter values in [from, to) (or every
 * customer's, `customerId` null), in one statement: the values are read where they are stored
 * (metering's meterValueRows: for one customer, its subject keys' value chunks) and no event leaves the
 * store. Totals per customer id.
 */
async function meterTransactions(
  db: Db,
  meterSlug: string,
  filters: Record<string, string>,
  customerId: string | null,
  price: PercentagePrice,
  period: { from: Date; to: Date },
): Promise<Map<string, TakeRateTotals>> {
  const rows = meterValueRows(meterSlug, period, customerId, filters);
  const { rows: found } = await takeRateSql(rows, price, true).execute(db);
  return new Map(
    found.map(({ subject, transactions, volume, amount }) => [subject, { transactions, volume, amount }]),
  );
}
