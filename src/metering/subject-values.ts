import type { ResolvedConfig } from '../config/index.ts';

/**
 * The values of a meter in [from, to) as rows (`subject`, `time`, `value`), for SQL aggregates
 * that need every event, not a rollup: take rates are priced per transaction (billing's
 * rating-take-rates.ts). For every subject, the period's value chunks are unpacked; for one
 * subject, its own chunks (subject-compaction.ts) and the value chunks not compacted yet, so a
 * customer's preview reads its values, not the whole period's.
 *
 * Answers a subquery aliased `tx` and its parameters, numbered from $1.
 */
export function meterValueRows(
  meterSlug: string,
  period: { from: Date; to: Date },
  subject: string | null,
  /** Group-by values the rows must have (a feature's `meterGroupByFilters`). */
  filters: Readonly<Record<string, string>> = {},
): { sql: string; params: unknown[] } {
  const params: unknown[] = [meterSlug, period.from, period.to];
  const dims = Object.entries(filters)
    .map(([k, v]) => {
      params.push(k, v);
      return ` and x.dims->>$${params.length - 1} = $${params.length}`;
    })
    .join('');
  const meter = '(select key from metering_meters where slug = $1)';
  const inPeriod = 'c.max_time >= $2 and c.min_time < $3 and x.time >= $2 and x.time < $3';
  const record = 'x(time timestamptz, subject text, value numeric, value_text text, dims jsonb)';
  if (subject === null) {
    return {
      sql: `(select x.subject, x.time, x.value from usage_value_chunks c
        cross join lateral json_to_recordset(c.vals::json) as ${record}
        where c.meter = ${meter} and ${inPeriod}${dims}) tx`,
      params,
    };
  }
  params.push(subject);
  const s = `$${params.length}`;
  return {
    sql: `(select c.subject, x.time, x.value from usage_value_subject_chunks c
        cross join lateral json_to_recordset(c.vals::json) as ${record}
        where c.meter = ${meter} and c.subject = ${s} and ${inPeriod}${dims}
      union all
      select x.subject, x.time, x.value from usage_value_chunks c
        cross join lateral json_to_recordset(c.vals::json) as ${record}
        where c.meter = ${meter} and not c.compacted and ${inPeriod} and x.subject = ${s}${dims}) tx`,
    params,
  };
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
