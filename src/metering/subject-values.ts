import { type RawBuilder, sql } from 'kysely';
import type { ResolvedConfig } from '../config/index.ts';

/** One metered value: a row of `meterValueRows`. */
export interface MeterValueRow {
  subject: string;
  time: Date;
  value: string;
}

/**
 * The values of a meter in [from, to) as rows (`subject`, `time`, `value`), for SQL aggregates
 * that need every event, not a rollup: take rates are priced per transaction (billing's
 * rating-take-rates.ts). Rows are per customer: `subject` is the customer that owns the event's
 * subject key (its id, or a key set through `usageAttribution.subjectKeys`), else the key itself.
 * For every customer, the period's value chunks are unpacked; for one customer, its keys' own
 * chunks (subject-compaction.ts) and the value chunks not compacted yet, so a customer's preview
 * reads its values, not the whole period's.
 *
 * Answers a subquery aliased `tx`, its values bound as parameters.
 */
export function meterValueRows(
  meterSlug: string,
  period: { from: Date; to: Date },
  customer: string | null,
  /** Group-by values the rows must have (a feature's `meterGroupByFilters`). */
  filters: Readonly<Record<string, string>> = {},
): RawBuilder<MeterValueRow> {
  const dims = sql.join(
    Object.entries(filters).map(([k, v]) => sql` and x.dims->>${k}::text = ${v}::text`),
    sql``,
  );
  const meter = sql`(select key from metering_meters where slug = ${meterSlug})`;
  const { from, to } = period;
  const inPeriod = sql`c.max_time >= ${from} and c.min_time < ${to} and x.time >= ${from} and x.time < ${to}`;
  const record = sql.raw('x(time timestamptz, subject text, value numeric, value_text text, dims jsonb)');
  if (customer === null) {
    return sql<MeterValueRow>`(select coalesce(k.customer_id, x.subject) as subject, x.time, x.value
        from usage_value_chunks c
        cross join lateral json_to_recordset(c.vals::json) as ${record}
        left join customer_subject_keys k on k.subject_key = x.subject
        where c.meter = ${meter} and ${inPeriod}${dims}) tx`;
  }
  const keys = sql`(select ${customer}::text union all
        select subject_key from customer_subject_keys where customer_id = ${customer})`;
  return sql<MeterValueRow>`(select ${customer}::text as subject, x.time, x.value from usage_value_subject_chunks c
        cross join lateral json_to_recordset(c.vals::json) as ${record}
        where c.meter = ${meter} and c.subject in ${keys} and ${inPeriod}${dims}
      union all
      select ${customer}::text as subject, x.time, x.value from usage_value_chunks c
        cross join lateral json_to_recordset(c.vals::json) as ${record}
        where c.meter = ${meter} and not c.compacted and ${inPeriod} and x.subject in ${keys}${dims}) tx`;
}

/** The meters the config's take rates (percentage prices) read: the ones worth compacting. */
export function takeRateMeters(config: ResolvedConfig): string[] {
  const features = new Set<string>();
  for (const plan of config.plans) {
    const cards = [...(plan.rateCards ?? []), ...(plan.phases ?? []).flatMap((p) => p.rateCards ?? [])];
    for (const card of cards)
      if (card.price?.type === 'percentage' && card.feature) features.add(card.feature);
  }
  const meters = config.features.filter((f) => features.has(f.key) && f.meter).map((f) => f.meter as string);
  return [...new Set(meters)];
}
