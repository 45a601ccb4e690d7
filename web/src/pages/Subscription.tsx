import { useQuery } from '@tanstack/react-query';
import { useEffect, useRef, useState } from 'react';
import { type Balance, type MoneyLine, type Plan, post, type Subscription } from '../api.ts';
import { useForm } from '../components/form.tsx';
import { date, money, number, period, periodText } from '../format.ts';
import { portalKey, usePortalQuery } from '../query.ts';
import { Link, useLocation } from '../router.tsx';
import { useSession } from '../session.tsx';
import {
  Badge,
  Dialog,
  Empty,
  ErrorNotice,
  Loading,
  Notice,
  Progress,
  statusTone,
  Unavailable,
} from '../ui.tsx';

interface Preview {
  amount: string;
  currency: string;
  lines: MoneyLine[];
  timing: 'immediate' | 'period_end';
}

export function Balances({ balances }: { balances: Balance[] }) {
  const metered = balances.filter((b) => b.limit !== null);
  if (metered.length === 0) return <p className="muted">This plan has no usage quotas.</p>;
  return (
    <div className="stack">
      {metered.map((b) => (
        <div key={b.featureKey} data-testid={`quota-${b.featureKey}`}>
          <div className="row" style={{ justifyContent: 'space-between' }}>
            <strong>{b.featureName}</strong>
            <span className="small">
              {number(b.usage)} of {number(b.limit)} {b.soft ? '(overage billed beyond)' : ''}
            </span>
          </div>
          <Progress value={b.usage} max={b.limit ?? 0} label={`${b.featureName} used`} />
          <div className="small muted">Resets {date(b.resetAt)}</div>
        </div>
      ))}
    </div>
  );
}

export function SubscriptionPage() {
  const { me } = useSession();
  const owner = me?.user.role === 'owner';
  const sub = usePortalQuery<{ available: boolean; subscription: Subscription | null; balances: Balance[] }>(
    '/subscription',
    { refetchInterval: 5000 },
  );
  const plans = usePortalQuery<{ plans: Plan[] }>('/plans');
  const [target, setTarget] = useState<Plan | null>(null);
  // What a change to `target` would cost now: a read, though the API takes it as a POST.
  const previewQuery = useQuery({
    queryKey: portalKey('/subscription/preview', target?.key),
    queryFn: () => post<Preview>('/subscription/preview', { planKey: target!.key }),
    enabled: target !== null,
    gcTime: 0,
  });
  const preview = previewQuery.data ?? null;
  const action = useForm(['/subscription', '/invoices', '/credits', '/usage/summary']);
  const busy = action.busy;
  const error = action.error ?? previewQuery.error;
  const [done, setDone] = useState<string | null>(null);
  const [confirmCancel, setConfirmCancel] = useState(false);
  // `?plan=growth` (from checkout, for a customer who already has a plan): that change, opened once.
  const asked = useLocation().query.get('plan');
  const opened = useRef(false);
  useEffect(() => {
    const live = sub.data?.subscription;
    if (opened.current || !asked || !live || live.status === 'canceled' || !plans.data) return;
    opened.current = true;
    const wanted = plans.data.plans.find((p) => p.key === asked && p.key !== live.plan.key);
    if (wanted && owner && !live.cancelAtPeriodEnd) setTarget(wanted);
  }, [asked, sub.data, plans.data, owner]);

  if (sub.error) return <ErrorNotice error={sub.error} />;
  if (!sub.data || !plans.data) return <Loading />;
  if (!sub.data.available) return <Unavailable what="Subscriptions" />;
  const s = sub.data.subscription;
  if (!s || s.status === 'canceled') {
    return (
      <div className="card">
        <Empty title={s ? 'Your subscription was canceled' : 'No subscription yet'}>
          <p>Pick a plan to start calling the API.</p>
          <Link className="btn btn-primary" to="/pricing">
            See plans
          </Link>
        </Empty>
      </div>
    );
  }
  const currentPlan = plans.data.plans.find((p) => p.key === s.plan.key);
  const others = plans.data.plans.filter((p) => p.key !== s.plan.key);
  const isUpgrade = (p: Plan) => Number(p.basePrice) > Number(currentPlan?.basePrice ?? 0);

  function choose(p: Plan) {
    action.reset();
    setTarget(p);
  }

  async function confirmChange() {
    if (!target || !s) return;
    await action.run(async () => {
      const r = await post<{ subscription: Subscription; timing: 'immediate' | 'period_end' }>(
        '/subscription/change',
        {
          planKey: target.key,
          subscriptionId: s.id,
        },
      );
      setDone(
        r.timing === 'immediate'
          ? `You are now on ${target.name}.`
          : `You will move to ${target.name} on ${date(s.currentPeriod.to)}.`,
      );
      setTarget(null);
    });
  }

  async function act(verb: 'cancel' | 'resume') {
    if (!s) return;
    await action.run(async () => {
      await post(`/subscription/${verb}`, { subscriptionId: s.id });
      setDone(
        verb === 'cancel'
          ? 'Your subscription ends at the end of the period.'
          : 'Your subscription continues.',
      );
      setConfirmCancel(false);
    });
  }

  return (
    <>
      <div className="page-head">
        <div>
          <h1>Subscription</h1>
          <p>Upgrades apply now and are prorated; downgrades take effect at the end of the period.</p>
        </div>
      </div>
      {done && <Notice tone="ok">{done}</Notice>}
      {!owner && (
        <Notice tone="info">Only owners of the organisation can change the plan or cancel it.</Notice>
      )}
      <ErrorNotice error={target ? null : error} />
      <div className="grid grid-2" style={{ alignItems: 'start' }}>
        <section className="card" aria-labelledby="current">
          <div className="card-head">
            <h2 id="current">
              {s.plan.name} <span className="muted small">v{s.plan.version}</span>
            </h2>
            <Badge tone={statusTone(s.status)}>{s.status.replace('_', ' ')}</Badge>
          </div>
          <table>
            <tbody>
              <tr>
                <td className="muted">Price</td>
                <td>
                  {currentPlan
                    ? currentPlan.free
                      ? 'Free'
                      : `${money(currentPlan.basePrice, currentPlan.currency)} / ${period(currentPlan.billingCadence)}`
                    : '—'}
                </td>
              </tr>
              <tr>
                <td className="muted">Phase</td>
                <td>{s.phase === 'default' ? 'Standard' : s.phase}</td>
              </tr>
              <tr>
                <td className="muted">Current period</td>
                <td>{periodText(s.currentPeriod.from, s.currentPeriod.to)}</td>
              </tr>
            </tbody>
          </table>
          {s.pendingChange && (
            <Notice tone="info">
              Moving to <strong style={{ display: 'inline' }}>{s.pendingChange.planKey}</strong> on{' '}
              {date(s.pendingChange.effectiveAt)}.
            </Notice>
          )}
          {s.cancelAtPeriodEnd ? (
            <Notice
              tone="warn"
              title="Cancellation scheduled"
              action={
                <button type="button" className="btn btn-sm" disabled={busy} onClick={() => act('resume')}>
                  Resume
                </button>
              }
            >
              Your subscription ends on {date(s.currentPeriod.to)}.
            </Notice>
          ) : (
            <button
              type="button"
              className="btn btn-danger"
              style={{ marginTop: '1rem' }}
              disabled={!owner}
              onClick={() => setConfirmCancel(true)}
            >
              Cancel subscription
            </button>
          )}
        </section>
        <section className="card" aria-labelledby="quota">
          <h2 id="quota">This period</h2>
          <Balances balances={sub.data.balances} />
        </section>
      </div>
      <section className="card" aria-labelledby="change" style={{ marginTop: '1rem' }}>
        <h2 id="change">Change plan</h2>
        <div className="table-wrap">
          <table className="plan-choices">
            <tbody>
              {others.map((p) => (
                <tr key={p.key}>
                  <td>
                    <strong>{p.name}</strong>
                    <div className="small muted">{p.description}</div>
                  </td>
                  <td className="num">
                    {p.free ? 'Free' : `${money(p.basePrice, p.currency)} / ${period(p.billingCadence)}`}
                  </td>
                  <td className="num">
                    <button
                      type="button"
                      className={`btn btn-sm${isUpgrade(p) ? ' btn-primary' : ''}`}
                      onClick={() => choose(p)}
                      disabled={s.cancelAtPeriodEnd || !owner}
                    >
                      {isUpgrade(p)
                        ? `Upgrade to ${p.name}`
                        : Number(p.basePrice) < Number(currentPlan?.basePrice ?? 0)
                          ? `Downgrade to ${p.name}`
                          : `Switch to ${p.name}`}
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </section>
      <Dialog
        open={target !== null}
        title={target ? `${isUpgrade(target) ? 'Upgrade' : 'Switch'} to ${target.name}` : ''}
        onClose={() => setTarget(null)}
        actions={
          <>
            <button type="button" className="btn" onClick={() => setTarget(null)}>
              Cancel
            </button>
            <button
              type="button"
              className="btn btn-primary"
              disabled={busy || !preview}
              onClick={confirmChange}
            >
              {preview?.timing === 'period_end' ? 'Schedule change' : `Upgrade now`}
            </button>
          </>
        }
      >
        <ErrorNotice error={error} />
        {!preview && !error && <Loading />}
        {preview && (
          <div data-testid="proration-preview">
            {preview.timing === 'immediate' ? (
              <p>
                The change applies now, with the new plan's quotas and limits. The prorated difference for the
                rest of this period, <strong>{money(preview.amount, preview.currency)}</strong>, is added to
                your next invoice.
              </p>
            ) : (
              <p>The change takes effect on {date(s.currentPeriod.to)}. Nothing is charged today.</p>
            )}
            {preview.lines.length > 0 && (
              <table>
                <tbody>
                  {preview.lines.map((l) => (
                    <tr key={`${l.description}-${l.amount}`}>
                      <td>{l.description}</td>
                      <td className="num">{money(l.amount, preview.currency)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
          </div>
        )}
      </Dialog>
      <Dialog
        open={confirmCancel}
        title="Cancel your subscription?"
        onClose={() => setConfirmCancel(false)}
        actions={
          <>
            <button type="button" className="btn" onClick={() => setConfirmCancel(false)}>
              Keep subscription
            </button>
            <button type="button" className="btn btn-danger" disabled={busy} onClick={() => act('cancel')}>
              Cancel at period end
            </button>
          </>
        }
      >
        <p className="muted">
          Your keys keep working until {date(s.currentPeriod.to)}. You can resume any time before then.
        </p>
      </Dialog>
    </>
  );
}
