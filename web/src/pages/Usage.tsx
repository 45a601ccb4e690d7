import { keepPreviousData } from '@tanstack/react-query';
import { useState } from 'react';
import { Bar, BarChart, CartesianGrid, Legend, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import type { Balance, CostSummary, KeyView, Subscription } from '../api.ts';
import { compact, date, money, number, periodText } from '../format.ts';
import { usePortalQuery } from '../query.ts';
import { Link } from '../router.tsx';
import { useSession } from '../session.tsx';
import { Empty, ErrorNotice, Loading, Unavailable } from '../ui.tsx';
import { Balances } from './Subscription.tsx';

interface UsageResponse {
  available: boolean;
  meters: { slug: string; name: string; groupBy: string[] }[];
  meter?: string;
  windowSize?: 'HOUR' | 'DAY';
  from?: string;
  data: { value: number; windowStart: string; windowEnd: string; groupBy: Record<string, string | null> }[];
}

interface Summary {
  balances: Balance[] | null;
  cost: CostSummary | null;
  spendCap: { amount: string; currency: string } | null;
  capReached: boolean;
  subscription: Subscription | null;
}

const COLORS = ['var(--brand)', '#0ea5e9', '#f59e0b', '#10b981', '#ef4444', '#8b5cf6', '#64748b'];
const REFRESH_MS = 4000;

function label(iso: string, window: 'HOUR' | 'DAY'): string {
  const d = new Date(iso);
  return window === 'DAY'
    ? d.toLocaleDateString('en-GB', { day: 'numeric', month: 'short', timeZone: 'UTC' })
    : d.toLocaleTimeString('en-GB', { hour: '2-digit', minute: '2-digit', timeZone: 'UTC' });
}

export function Usage() {
  const { config } = useSession();
  const [meter, setMeter] = useState<string>('');
  const [window, setWindow] = useState<'HOUR' | 'DAY'>('HOUR');
  const [groupBy, setGroupBy] = useState<string>('key');
  const summary = usePortalQuery<Summary>('/usage/summary', { refetchInterval: REFRESH_MS });
  const keys = usePortalQuery<{ keys: KeyView[] }>(config?.services.keys ? '/keys' : null);
  // Another meter, window or grouping keeps the chart on screen until its data is in.
  const usage = usePortalQuery<UsageResponse>(
    `/usage?window=${window}${meter ? `&meter=${meter}` : ''}${groupBy ? `&groupBy=${groupBy}` : ''}`,
    { refetchInterval: REFRESH_MS, placeholderData: keepPreviousData },
  );

  const meters = usage.data?.meters ?? [];
  const currentMeter = meters.find((m) => m.slug === (meter || usage.data?.meter)) ?? meters[0];
  const dims = currentMeter?.groupBy.filter((g) => ['key', 'model', 'route', 'type'].includes(g)) ?? [];
  const keyName = (value: string) => {
    const k = keys.data?.keys.find((x) => x.id === value || x.prefix === value);
    return k ? `${k.name} (${k.prefix}…)` : value;
  };

  const buckets = new Map<string, Record<string, number | string>>();
  const series = new Set<string>();
  let total = 0;
  for (const row of usage.data?.data ?? []) {
    const rawGroup = groupBy && dims.includes(groupBy) ? (row.groupBy[groupBy] ?? 'other') : 'total';
    const name = groupBy === 'key' ? keyName(rawGroup) : rawGroup;
    series.add(name);
    const bucket = buckets.get(row.windowStart) ?? { t: row.windowStart };
    bucket[name] = ((bucket[name] as number | undefined) ?? 0) + row.value;
    buckets.set(row.windowStart, bucket);
    total += row.value;
  }
  // Empty windows are drawn as zero so the time axis is continuous.
  if (usage.data?.available && usage.data.from && buckets.size > 0) {
    const step = window === 'DAY' ? 86_400_000 : 3_600_000;
    const start = Math.ceil(new Date(usage.data.from).getTime() / step) * step;
    const last = Math.max(
      Math.floor(Date.now() / step) * step,
      ...[...buckets.keys()].map((k) => new Date(k).getTime()),
    );
    for (let t = start; t <= last && buckets.size < 400; t += step) {
      const at = new Date(t).toISOString();
      if (![...buckets.keys()].some((k) => new Date(k).getTime() === t)) buckets.set(at, { t: at });
    }
  }
  const chart = [...buckets.values()].sort(
    (a, b) => new Date(String(a.t)).getTime() - new Date(String(b.t)).getTime(),
  );
  const s = summary.data;
  const sub = s?.subscription;

  return (
    <>
      <div className="page-head">
        <div>
          <h1>Usage &amp; cost</h1>
          <p>
            {sub ? (
              <>
                {sub.plan.name} plan · period {periodText(sub.currentPeriod.from, sub.currentPeriod.to)} ·
                refreshes every few seconds
              </>
            ) : (
              'Refreshes every few seconds.'
            )}
          </p>
        </div>
        {!sub && config?.services.subscriptions && (
          <Link className="btn btn-primary" to="/pricing">
            Choose a plan
          </Link>
        )}
      </div>

      <div className="grid grid-3" style={{ marginBottom: '1rem' }}>
        <div className="card stat">
          <div className="label">Cost to date</div>
          <div className="value" data-testid="cost-to-date">
            {s?.cost ? money(s.cost.costToDate, s.cost.currency) : '—'}
          </div>
          <div className="hint">
            {s?.cost
              ? `this period, before tax`
              : config?.services.billing
                ? 'no open period'
                : 'billing not enabled'}
          </div>
        </div>
        <div className="card stat">
          <div className="label">Forecast at period end</div>
          <div className="value">{s?.cost ? money(s.cost.forecast, s.cost.currency) : '—'}</div>
          <div className="hint">{s?.cost ? `usage extrapolated to ${date(s.cost.periodTo)}` : '—'}</div>
        </div>
        <div className="card stat">
          <div className="label">{currentMeter?.name ?? 'Usage'} in view</div>
          <div className="value" data-testid="usage-total">
            {usage.data?.available ? number(total) : '—'}
          </div>
          <div className="hint">
            {s?.spendCap
              ? `spend cap ${money(s.spendCap.amount, s.spendCap.currency)}${s.capReached ? ' — reached' : ''}`
              : window === 'HOUR'
                ? 'last 48 hours'
                : 'last 30 days'}
          </div>
        </div>
      </div>

      <div className="grid grid-main">
        <section className="card" aria-labelledby="chart-title">
          <div className="card-head">
            <h2 id="chart-title">{currentMeter?.name ?? 'Usage'} over time</h2>
            <div className="row">
              {meters.length > 1 && (
                <label className="small">
                  <span className="sr-only">Meter</span>
                  <select
                    value={currentMeter?.slug ?? ''}
                    onChange={(e) => setMeter(e.target.value)}
                    style={{ minHeight: 32, padding: '.2rem .5rem' }}
                  >
                    {meters.map((m) => (
                      <option key={m.slug} value={m.slug}>
                        {m.name}
                      </option>
                    ))}
                  </select>
                </label>
              )}
              <fieldset className="segmented">
                <legend className="sr-only">Window</legend>
                {(['HOUR', 'DAY'] as const).map((w) => (
                  <button key={w} type="button" aria-pressed={window === w} onClick={() => setWindow(w)}>
                    {w === 'HOUR' ? 'Hourly' : 'Daily'}
                  </button>
                ))}
              </fieldset>
              <fieldset className="segmented">
                <legend className="sr-only">Split by</legend>
                <button type="button" aria-pressed={groupBy === ''} onClick={() => setGroupBy('')}>
                  Total
                </button>
                {dims.map((d) => (
                  <button key={d} type="button" aria-pressed={groupBy === d} onClick={() => setGroupBy(d)}>
                    By {d}
                  </button>
                ))}
              </fieldset>
            </div>
          </div>
          <ErrorNotice error={usage.error} />
          {!usage.data && !usage.error && <Loading />}
          {usage.data && !usage.data.available && <Unavailable what="Usage metering" />}
          {usage.data?.available && chart.length === 0 && (
            <Empty title="No usage in this window yet">
              <p>
                Call the API with one of your <Link to="/keys">keys</Link>; usage shows up here within
                seconds.
              </p>
            </Empty>
          )}
          {usage.data?.available && chart.length > 0 && (
            <div style={{ width: '100%', height: 300 }} data-testid="usage-chart">
              <ResponsiveContainer>
                <BarChart data={chart} margin={{ top: 8, right: 8, bottom: 0, left: -8 }}>
                  <CartesianGrid strokeDasharray="3 3" vertical={false} stroke="#e2e8f0" />
                  <XAxis
                    dataKey="t"
                    tickFormatter={(v: string) => label(v, window)}
                    tick={{ fontSize: 12 }}
                  />
                  <YAxis
                    tickFormatter={(v: number) => compact(v)}
                    tick={{ fontSize: 12 }}
                    allowDecimals={false}
                  />
                  <Tooltip
                    labelFormatter={(v) => label(String(v), window)}
                    formatter={(v) => number(Number(v))}
                  />
                  <Legend wrapperStyle={{ fontSize: 12 }} />
                  {[...series].map((name, i) => (
                    <Bar
                      key={name}
                      isAnimationActive={false}
                      dataKey={name}
                      stackId="usage"
                      fill={COLORS[i % COLORS.length]}
                      maxBarSize={36}
                    />
                  ))}
                </BarChart>
              </ResponsiveContainer>
            </div>
          )}
        </section>
        <section className="card" aria-labelledby="quota-title">
          <h2 id="quota-title">Quota this period</h2>
          {!s && !summary.error && <Loading />}
          {s && s.balances === null && <Unavailable what="Entitlements" />}
          {s?.balances &&
            (sub ? <Balances balances={s.balances} /> : <p className="muted">No active subscription.</p>)}
          {s?.cost && s.cost.lines.length > 0 && (
            <>
              <h3 style={{ marginTop: '1.25rem' }}>Charges so far</h3>
              <table>
                <tbody>
                  {s.cost.lines.map((l) => (
                    <tr key={`${l.description}-${l.amount}`}>
                      <td className="small">{l.description}</td>
                      <td className="num small">{money(l.amount, s.cost!.currency)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </>
          )}
        </section>
      </div>
    </>
  );
}
