import type { Plan, PlanFeature, Subscription } from '../api.ts';
import { compact, money, number, period, windowText } from '../format.ts';
import { usePortalQuery } from '../query.ts';
import { Link } from '../router.tsx';
import { useSession } from '../session.tsx';
import { ErrorNotice, Loading } from '../ui.tsx';

function included(f: PlanFeature): string {
  if (f.boolean) return 'Included';
  if (f.unlimited || (f.included === null && f.price)) return f.price ? 'Pay per use' : 'Unlimited';
  if (f.included !== null) {
    return `${number(f.included)} / ${period(f.usagePeriod)}${f.soft ? ', then overage' : ''}`;
  }
  return '—';
}

function featurePrice(f: PlanFeature, currency: string): string | null {
  if (f.perMillion) return `${money(f.perMillion, currency)} per 1M`;
  return f.priceText;
}

function creditsText(credits: NonNullable<Plan['credits']>, plan: Plan): string {
  const cadence = period(plan.billingCadence);
  const every = cadence === plan.billingCadence ? 'every billing period' : `every ${cadence}`;
  const kept =
    credits.expiresAfter === 'period' ? '' : `, valid for ${number(credits.expiresAfter.days)} days`;
  return `${money(credits.amount, plan.currency)} of usage credits included ${every}${kept}`;
}

function bullets(plan: Plan): string[] {
  const out: string[] = [];
  for (const f of plan.features) {
    if (f.boolean) out.push(f.name);
    else if (f.included !== null) out.push(`${compact(f.included)} ${f.name} / ${period(f.usagePeriod)}`);
    else if (f.perMillion) out.push(`${f.name}: ${money(f.perMillion, plan.currency)} per 1M`);
    else if (f.unlimited) out.push(`${f.name}: unlimited`);
    if (f.soft && f.priceText && !f.perMillion) out.push(`Overage: ${f.priceText}`);
  }
  if (plan.rateLimit)
    out.push(`${number(plan.rateLimit.limit)} requests per ${windowText(plan.rateLimit.window)}`);
  if (plan.trialDays) out.push(`${plan.trialDays}-day free trial`);
  if (plan.credits) out.push(creditsText(plan.credits, plan));
  return out;
}

export function Pricing() {
  const { me } = useSession();
  const { data, error } = usePortalQuery<{ plans: Plan[] }>('/plans');
  // Signed out, or subscriptions off (an error): no current plan to mark.
  const current = usePortalQuery<{ subscription: Subscription | null }>(me ? '/subscription' : null);
  const sub = current.error ? null : current.data?.subscription;
  const subscribed = sub && sub.status !== 'canceled' ? sub : null;
  if (error) return <ErrorNotice error={error} />;
  if (!data) return <Loading />;
  const plans = data.plans;
  const featured = plans.find((p) => p.key === 'pro') ?? plans.find((p) => !p.free);
  const hasTokenPrices = plans.some((p) => p.features.some((f) => f.perMillion));
  const rows = new Map<string, string>();
  for (const plan of plans) for (const f of plan.features) rows.set(f.featureKey ?? f.rateCardKey, f.name);
  // Subscribers change plans on the subscription page (upgrades prorated); others check out.
  const choose = (plan: Plan) =>
    subscribed
      ? '/subscription'
      : me
        ? `/checkout?plan=${encodeURIComponent(plan.key)}`
        : `/signup?plan=${encodeURIComponent(plan.key)}`;
  const label = (plan: Plan) =>
    subscribed?.plan.key === plan.key
      ? 'Your current plan'
      : subscribed
        ? `Switch to ${plan.name}`
        : plan.free
          ? 'Start free'
          : `Choose ${plan.name}`;
  return (
    <>
      <div className="page-head">
        <div>
          <h1>Pricing</h1>
          <p>Simple plans from the live catalog. Upgrade any time — you only pay the prorated difference.</p>
        </div>
      </div>
      <section className="plans" aria-label="Plans">
        {plans.map((plan) => (
          <article
            key={plan.key}
            className={`plan${plan === featured ? ' featured' : ''}`}
            aria-labelledby={`plan-${plan.key}`}
          >
            {plan === featured && <span className="ribbon">Most popular</span>}
            <h2 id={`plan-${plan.key}`}>{plan.name}</h2>
            <p className="muted small" style={{ minHeight: '2.6em' }}>
              {plan.description}
            </p>
            <p className="price">
              {plan.free ? 'Free' : money(plan.basePrice, plan.currency)}
              {!plan.free && <small> / {period(plan.billingCadence)}</small>}
            </p>
            {!plan.free && Number(plan.basePrice) === 0 && (
              <p className="small muted">Pay only for what you use</p>
            )}
            <ul>
              {bullets(plan).map((b) => (
                <li key={b}>{b}</li>
              ))}
            </ul>
            <Link className={`btn btn-block${plan === featured ? ' btn-primary' : ''}`} to={choose(plan)}>
              {label(plan)}
            </Link>
          </article>
        ))}
      </section>

      <section className="card" style={{ marginTop: '1.5rem' }} aria-labelledby="compare">
        <h2 id="compare">Compare plans</h2>
        {/* Sized to the plans: on a phone two or three plans fit; more scroll sideways with the
            feature column kept in view. */}
        <div className="table-wrap">
          <table className="compare" style={{ minWidth: `${7 + plans.length * 6}rem` }}>
            <thead>
              <tr>
                <th scope="col">Feature</th>
                {plans.map((p) => (
                  <th scope="col" key={p.key}>
                    {p.name}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              <tr>
                <td>Price</td>
                {plans.map((p) => (
                  <td key={p.key}>
                    {p.free ? 'Free' : `${money(p.basePrice, p.currency)} / ${period(p.billingCadence)}`}
                  </td>
                ))}
              </tr>
              <tr>
                <td>Rate limit</td>
                {plans.map((p) => (
                  <td key={p.key}>
                    {p.rateLimit ? `${number(p.rateLimit.limit)} / ${windowText(p.rateLimit.window)}` : '—'}
                  </td>
                ))}
              </tr>
              {[...rows].map(([key, name]) => (
                <tr key={key}>
                  <td>{name}</td>
                  {plans.map((p) => {
                    const f = p.features.find((x) => (x.featureKey ?? x.rateCardKey) === key);
                    if (!f) {
                      return (
                        <td key={p.key}>
                          <span className="no" aria-hidden="true">
                            —
                          </span>
                          <span className="sr-only">not included</span>
                        </td>
                      );
                    }
                    const price = featurePrice(f, p.currency);
                    return (
                      <td key={p.key}>
                        <span className={f.boolean ? 'yes' : undefined}>{included(f)}</span>
                        {price && <div className="small muted">{price}</div>}
                      </td>
                    );
                  })}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
        <p className="small muted" style={{ marginTop: '.75rem' }}>
          {hasTokenPrices && 'Token prices are shown per 1M tokens. '}Prices exclude tax. Hard quotas stop at
          the limit (HTTP 429 until the period resets); plans with overage keep working and bill the extra
          usage.
        </p>
      </section>
    </>
  );
}
