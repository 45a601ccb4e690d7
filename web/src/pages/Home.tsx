import type { Plan } from '../api.ts';
import { money, period } from '../format.ts';
import { usePortalQuery } from '../query.ts';
import { Link } from '../router.tsx';
import { useSession } from '../session.tsx';
import { CopyButton } from '../ui.tsx';

type OpenApi = {
  paths?: Record<string, Record<string, { parameters?: { name: string; in: string; required?: boolean }[] }>>;
};

/** A curl for the first GET operation without path parameters, with its required query parameters. */
function firstCall(doc: OpenApi | null, gateway: string): string | null {
  for (const [path, item] of Object.entries(doc?.paths ?? {})) {
    const get = item.get;
    if (!get || path.includes('{')) continue;
    const query = (get.parameters ?? [])
      .filter((p) => p.in === 'query' && p.required)
      .map((p) => `${p.name}=…`)
      .join('&');
    return `curl -H "Authorization: Bearer <your key>" "${gateway}${path}${query ? `?${query}` : ''}"`;
  }
  return null;
}

/** Orders non-negative decimal strings ("9.5" < "19.00") without turning money into floats. */
function compareAmounts(a: string, b: string): number {
  const [ai = '0', af = ''] = a.split('.');
  const [bi = '0', bf = ''] = b.split('.');
  const width = Math.max(ai.length, bi.length);
  const frac = Math.max(af.length, bf.length);
  const x = ai.padStart(width, '0') + af.padEnd(frac, '0');
  const y = bi.padStart(width, '0') + bf.padEnd(frac, '0');
  return x < y ? -1 : x > y ? 1 : 0;
}

/** "Start free; paid plans from $29.00 a month." or "Pay as you grow, from $29.00 a month." */
function priceLine(plans: Plan[]): string {
  const firstPaid = plans.find((p) => !p.free);
  const hasFree = plans.some((p) => p.free);
  if (!firstPaid) return hasFree ? ' Free to use.' : '';
  // Only plans in one currency are compared: amounts in different currencies do not order.
  const cheapest = plans
    .filter(
      (p) => !p.free && p.currency === firstPaid.currency && p.billingCadence === firstPaid.billingCadence,
    )
    .sort((a, b) => compareAmounts(a.basePrice, b.basePrice))[0]!;
  const from = `${money(cheapest.basePrice, cheapest.currency)} a ${period(cheapest.billingCadence)}`;
  return hasFree ? ' Start free; paid plans from ' + from + '.' : ` Pay as you grow, from ${from}.`;
}

export function Home() {
  const { config, me } = useSession();
  const plans = usePortalQuery<{ plans: Plan[] }>('/plans');
  const doc = usePortalQuery<OpenApi>(config?.hasOpenapi ? '/openapi' : null);
  const example = firstCall(doc.data ?? null, config?.gatewayUrl ?? '');
  return (
    <>
      <section className="hero">
        <h1>{config?.apiName}</h1>
        <p>
          Sign up, get a key and make your first call in under a minute.
          {plans.data ? priceLine(plans.data.plans) : ''}
        </p>
        <div className="row" style={{ justifyContent: 'center' }}>
          {me ? (
            <Link className="btn btn-primary" to="/usage">
              Go to your dashboard
            </Link>
          ) : (
            <Link className="btn btn-primary" to="/signup">
              Get an API key
            </Link>
          )}
          <Link className="btn" to="/docs">
            Read the API reference
          </Link>
          <Link className="btn" to="/pricing">
            See pricing
          </Link>
        </div>
      </section>
      <div className="grid grid-3">
        <div className="card">
          <h2>1. Pick a plan</h2>
          <p className="muted">
            Start free, or choose a paid plan with higher quotas. Change plans at any time.
          </p>
        </div>
        <div className="card">
          <h2>2. Create a key</h2>
          <p className="muted">Keys are shown once, can expire, and roll without downtime.</p>
        </div>
        <div className="card">
          <h2>3. Watch usage</h2>
          <p className="muted">Usage, quota and cost update live; set budget alerts and a hard spend cap.</p>
        </div>
      </div>
      {example && (
        <section className="card" style={{ marginTop: '1rem' }} aria-labelledby="first-call">
          <h2 id="first-call">Your first call</h2>
          <div className="code-wrap">
            <pre className="code">
              <code>{example}</code>
            </pre>
            <CopyButton text={example} />
          </div>
        </section>
      )}
    </>
  );
}
