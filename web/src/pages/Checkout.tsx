import { useQuery, useQueryClient } from '@tanstack/react-query';
import { type FormEvent, useEffect, useState } from 'react';
import { ApiError, type KeyView, type Plan, post, type Subscription } from '../api.ts';
import { money, period, provider } from '../format.ts';
import { portalKey, usePortalMutation, usePortalQuery } from '../query.ts';
import { Link, useLocation } from '../router.tsx';
import { rememberSecret } from '../secrets.ts';
import { useSession } from '../session.tsx';
import { ErrorNotice, Field, Loading, Notice, Secret, Unavailable } from '../ui.tsx';
import { CheckoutSubscribed } from './CheckoutSubscribed.tsx';

/** POST /api/portal/checkout/coupon: what checkout charges today with the code. */
interface CouponQuote {
  code: string;
  currency: string;
  lines: { description: string; amount: string }[];
  discount: string;
  total: string;
}

interface CheckoutResponse {
  status: 'active' | 'redirect' | 'pending';
  url?: string;
  subscription?: Subscription;
  invoiceId?: string | null;
  firstKey?: { key: KeyView; secret: string } | null;
}

function Activated({ result }: { result: CheckoutResponse }) {
  const { config } = useSession();
  useEffect(() => {
    if (result.firstKey) rememberSecret(result.firstKey.key.id, result.firstKey.secret);
  }, [result]);
  const curl = result.firstKey
    ? `curl ${config?.gatewayUrl ?? ''}/… -H 'Authorization: Bearer ${result.firstKey.secret}'`
    : null;
  return (
    <div className="card" data-testid="checkout-success">
      <Notice tone="ok" title={`You are on ${result.subscription?.plan.name ?? 'your new plan'}`}>
        Your subscription is active{result.invoiceId ? ' and the first invoice is paid' : ''}.
      </Notice>
      {result.firstKey ? (
        <>
          <h2>Your first API key</h2>
          <p className="muted">
            Copy it now: it is shown only once. You can create, roll and revoke keys on the{' '}
            <Link to="/keys">API keys</Link> page.
          </p>
          <Secret value={result.firstKey.secret} />
          {curl && (
            <p className="small muted" style={{ marginTop: '.75rem' }}>
              Send it as <code>Authorization: Bearer …</code> — the <Link to="/docs">API reference</Link> has
              ready-to-run examples with this key.
            </p>
          )}
        </>
      ) : (
        <p className="muted">
          Your existing API keys keep working. <Link to="/keys">Manage keys</Link>.
        </p>
      )}
      <div className="row" style={{ marginTop: '1rem' }}>
        <Link className="btn btn-primary" to="/docs">
          Make your first call
        </Link>
        <Link className="btn" to="/usage">
          Go to dashboard
        </Link>
      </div>
    </div>
  );
}

export function Checkout() {
  const { config } = useSession();
  const { query } = useLocation();
  const planKey = query.get('plan') ?? '';
  const plans = usePortalQuery<{ plans: Plan[] }>('/plans');
  // A live subscription is changed, not bought again: known before any pay form is shown.
  const current = usePortalQuery<{ subscription: Subscription | null }>('/subscription');
  const [code, setCode] = useState('');
  // Checking a coupon quotes the plan with it; nothing is stored.
  const couponCheck = usePortalMutation((c: string) =>
    post<CouponQuote>('/checkout/coupon', { planKey, code: c }),
  );
  const coupon = couponCheck.data ?? null;
  const couponError = !couponCheck.error
    ? null
    : couponCheck.error instanceof ApiError
      ? couponCheck.error.message
      : 'The coupon could not be checked.';
  const checkout = usePortalMutation(
    (card?: { number: string; expiry: string; cvc: string; name?: string }) =>
      post<CheckoutResponse>('/checkout', { planKey, card, ...(coupon ? { coupon: coupon.code } : {}) }),
    ['/subscription', '/invoices', '/keys', '/credits', '/usage/summary'],
  );
  const busy = checkout.isPending;
  const error = checkout.error;
  const result = checkout.data && checkout.data.status !== 'redirect' ? checkout.data : null;
  const fields =
    error instanceof ApiError
      ? Object.fromEntries(Object.entries(error.fieldErrors()).map(([k, v]) => [k.replace(/^card\./, ''), v]))
      : {};
  const plan = plans.data?.plans.find((p) => p.key === planKey);

  function applyCoupon() {
    couponCheck.reset();
    if (code.trim()) couponCheck.mutate(code.trim());
  }

  function submit(card?: { number: string; expiry: string; cvc: string; name?: string }) {
    checkout.mutate(card, {
      onSuccess: (response) => {
        if (response.status === 'redirect' && response.url) window.location.assign(response.url);
      },
    });
  }

  const onCard = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const f = event.currentTarget.elements;
    const v = (n: string) => (f.namedItem(n) as HTMLInputElement).value;
    submit({
      number: v('number').replace(/\s+/g, ''),
      expiry: v('expiry'),
      cvc: v('cvc'),
      name: v('cardName') || undefined,
    });
  };

  if (plans.error) return <ErrorNotice error={plans.error} />;
  if (!plans.data || current.isPending) return <Loading />;
  if (!plan) {
    return (
      <div className="card narrow center">
        <h1>Choose a plan</h1>
        <p className="muted">No plan “{planKey}”.</p>
        <Link className="btn btn-primary" to="/pricing">
          See pricing
        </Link>
      </div>
    );
  }
  if (result) return <Activated result={result} />;
  const live = current.data?.subscription;
  if (live && live.status !== 'canceled') {
    const currentPlan = plans.data.plans.find((p) => p.key === live.plan.key);
    return <CheckoutSubscribed current={live} currentPlan={currentPlan} plan={plan} />;
  }

  // Trials and free plans pay nothing today; otherwise the base price, or the coupon's quote.
  const dueToday = plan.free || plan.trialDays ? '0' : (coupon?.total ?? plan.basePrice);
  const declined = error instanceof ApiError && error.problem.type.endsWith('/card-declined');
  const conflict = error instanceof ApiError && error.status === 409;
  const noBilling = !config?.services.billing && !plan.free;
  return (
    <div className="grid grid-2" style={{ alignItems: 'start' }}>
      <section className="card" aria-labelledby="summary">
        <h1 id="summary">Checkout</h1>
        <p className="muted">{plan.description}</p>
        <table>
          <tbody>
            <tr>
              <td>{plan.name} plan</td>
              <td className="num">
                {plan.free
                  ? 'Free'
                  : `${money(plan.basePrice, plan.currency)} / ${period(plan.billingCadence)}`}
              </td>
            </tr>
            {plan.features
              .filter((f) => f.priceText && !f.boolean)
              .map((f) => (
                <tr key={f.rateCardKey}>
                  <td className="muted">{f.name}</td>
                  <td className="num muted">
                    {f.perMillion ? `${money(f.perMillion, plan.currency)} per 1M` : f.priceText}
                  </td>
                </tr>
              ))}
            {coupon &&
              Number(coupon.discount) !== 0 &&
              coupon.lines
                .filter((l) => Number(l.amount) < 0)
                .map((l) => (
                  <tr key={l.description} data-testid="coupon-discount">
                    <td>{l.description}</td>
                    <td className="num">{money(l.amount, coupon.currency)}</td>
                  </tr>
                ))}
            <tr>
              <td>
                <strong>Due today</strong>
              </td>
              <td className="num">
                <strong data-testid="due-today">{money(dueToday, plan.currency)}</strong>
              </td>
            </tr>
          </tbody>
        </table>
        {!plan.free && (
          <div className="coupon" style={{ marginTop: '1rem' }}>
            <label htmlFor="coupon-code">Coupon</label>
            <div className="row">
              <input
                id="coupon-code"
                name="coupon"
                value={code}
                autoComplete="off"
                placeholder="e.g. WELCOME20"
                onChange={(e) => setCode(e.currentTarget.value)}
                aria-invalid={couponError ? true : undefined}
                aria-describedby={couponError ? 'coupon-error' : undefined}
              />
              <button type="button" className="btn" onClick={applyCoupon} disabled={busy}>
                Apply
              </button>
            </div>
            {couponError && (
              <p id="coupon-error" className="small error" role="alert">
                {couponError}
              </p>
            )}
            {coupon && (
              <p className="small muted" data-testid="coupon-applied">
                Coupon {coupon.code} applied.
              </p>
            )}
          </div>
        )}
        {plan.trialDays && <p className="small muted">Includes a {plan.trialDays}-day free trial.</p>}
      </section>
      <section className="card" aria-labelledby="pay">
        <h2 id="pay">{plan.free ? 'Activate' : 'Payment'}</h2>
        {conflict ? (
          <Notice tone="info" title="You already have a subscription">
            Change plans on the <Link to="/subscription">Subscription</Link> page; upgrades are prorated.
          </Notice>
        ) : declined ? (
          <Notice tone="error" title="Payment declined">
            {(error as ApiError).message} Nothing was charged and no subscription was created. Try another
            card.
          </Notice>
        ) : (
          <ErrorNotice error={Object.keys(fields).length === 0 ? error : null} />
        )}
        {noBilling ? (
          <Unavailable what="Billing" />
        ) : plan.free ? (
          <button
            type="button"
            className="btn btn-primary btn-block"
            disabled={busy}
            onClick={() => submit()}
          >
            {busy ? 'Activating…' : `Activate ${plan.name}`}
          </button>
        ) : config?.rail === 'stripe' ? (
          <>
            <p className="muted">
              You will be sent to {provider(config?.railName) ?? 'Stripe'} Checkout to pay securely, then
              brought back here.
            </p>
            <button
              type="button"
              className="btn btn-primary btn-block"
              disabled={busy}
              onClick={() => submit()}
            >
              {busy ? 'Redirecting…' : `Continue to ${provider(config?.railName) ?? 'Stripe'}`}
            </button>
          </>
        ) : config?.rail === 'invoice' ? (
          <>
            <p className="muted">
              This installation bills by invoice. You will receive an invoice to pay by bank transfer.
            </p>
            <button
              type="button"
              className="btn btn-primary btn-block"
              disabled={busy}
              onClick={() => submit()}
            >
              {busy ? 'Subscribing…' : `Subscribe to ${plan.name}`}
            </button>
          </>
        ) : (
          <form onSubmit={onCard} noValidate aria-describedby="test-cards">
            <Notice tone="info" title="Sandbox payments">
              <span id="test-cards">
                Use <code>4242 4242 4242 4242</code> (succeeds) or <code>4000 0000 0000 0002</code>{' '}
                (declined), any future expiry and any CVC.
              </span>
            </Notice>
            <Field label="Name on card" name="cardName" autoComplete="cc-name" />
            <Field
              label="Card number"
              name="number"
              inputMode="numeric"
              autoComplete="cc-number"
              placeholder="1234 1234 1234 1234"
              required
              error={fields.number}
            />
            <div className="inline-fields">
              <Field
                label="Expiry (MM/YY)"
                name="expiry"
                autoComplete="cc-exp"
                placeholder="MM/YY"
                required
                error={fields.expiry}
              />
              <Field
                label="CVC"
                name="cvc"
                inputMode="numeric"
                autoComplete="cc-csc"
                placeholder="CVC"
                required
                error={fields.cvc}
              />
            </div>
            <button type="submit" className="btn btn-primary btn-block" disabled={busy}>
              {busy ? 'Paying…' : `Pay ${money(dueToday, plan.currency)} and subscribe`}
            </button>
          </form>
        )}
      </section>
    </div>
  );
}

/** Return page of Stripe Checkout: waits for the webhook to activate the subscription. */
export function CheckoutComplete() {
  // Asked every second, 30 times at most, until the provider's webhook has activated it.
  const done = (state: { error: unknown; data?: CheckoutResponse; dataUpdateCount: number }) =>
    Boolean(state.error) || state.data?.status === 'active' || state.dataUpdateCount > 30;
  const completion = useQuery({
    queryKey: portalKey('/checkout/complete'),
    queryFn: () => post<CheckoutResponse>('/checkout/complete'),
    refetchInterval: (q) => (done(q.state) ? false : 1000),
    gcTime: 0,
  });
  const state = useQueryClient().getQueryState<CheckoutResponse>(portalKey('/checkout/complete'));
  const result = completion.data?.status === 'active' ? completion.data : null;
  const error =
    completion.error ??
    (!result && state && done(state)
      ? new Error('Payment is still being confirmed. Refresh this page in a minute.')
      : null);
  if (result) return <Activated result={result} />;
  return (
    <div className="card narrow center">
      <h1>Confirming your payment…</h1>
      <ErrorNotice error={error} />
      {!error && <Loading />}
    </div>
  );
}
