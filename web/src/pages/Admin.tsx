import { useQuery } from '@tanstack/react-query';
import { type FormEvent, useEffect, useState } from 'react';
import type { Balance, InvoiceSummary, Subscription } from '../api.ts';
import { date, money, moneyTotals, number } from '../format.ts';
import { Badge, Empty, ErrorNotice, Field, Loading, statusTone } from '../ui.tsx';

interface Overview {
  services: { subscriptions: boolean; billing: boolean };
  customers: {
    customer: { id: string; name: string; email: string; createdAt: string | null; members: number };
    subscription: Subscription | null;
    invoices: InvoiceSummary[];
    balances: Balance[];
  }[];
}

const TOKEN_KEY = 'tollgate-admin-token';

/** The admin API answered 401: the token typed in is not the installation's. */
class TokenRefused extends Error {}

/** The admin console: an operator's overview. The admin token stays in this tab's session storage. */
export function Admin() {
  const [token, setToken] = useState<string | null>(() => sessionStorage.getItem(TOKEN_KEY));
  const [error, setError] = useState<string | null>(null);
  const overview = useQuery({
    queryKey: ['admin', 'overview', token],
    queryFn: async () => {
      const r = await fetch('/api/portal/admin/overview', { headers: { authorization: `Bearer ${token}` } });
      if (r.status === 401) throw new TokenRefused();
      if (!r.ok) throw new Error(`The overview could not be loaded (HTTP ${r.status}).`);
      return (await r.json()) as Overview;
    },
    enabled: token !== null,
    refetchInterval: 5000,
  });
  const refused = overview.error instanceof TokenRefused;
  useEffect(() => {
    if (!refused) return;
    sessionStorage.removeItem(TOKEN_KEY);
    setToken(null);
    setError('That admin token is not valid.');
  }, [refused]);
  const data = token ? overview.data : undefined;

  if (!token) {
    const onSubmit = (event: FormEvent<HTMLFormElement>) => {
      event.preventDefault();
      const value = (event.currentTarget.elements.namedItem('token') as HTMLInputElement).value.trim();
      sessionStorage.setItem(TOKEN_KEY, value);
      setError(null);
      setToken(value);
    };
    return (
      <div className="narrow">
        <form className="card" onSubmit={onSubmit}>
          <h1>Admin console</h1>
          <p className="muted">
            Enter the admin token (<code>TOLLGATE_ADMIN_TOKEN</code>, or <code>.tollgate/admin-token</code>).
          </p>
          {error && <ErrorNotice error={new Error(error)} />}
          <Field label="Admin token" name="token" type="password" autoComplete="off" required />
          <button type="submit" className="btn btn-primary btn-block">
            Open console
          </button>
        </form>
      </div>
    );
  }
  if (!data) return overview.error && !refused ? <ErrorNotice error={overview.error} /> : <Loading />;
  const paid = data.customers.flatMap((c) => c.invoices).filter((i) => i.status === 'paid');
  const collected = moneyTotals(paid.map((i) => ({ amount: i.total, currency: i.currency })));
  const active = data.customers.filter((c) => c.subscription && c.subscription.status !== 'canceled').length;
  return (
    <>
      <div className="page-head">
        <div>
          <h1>Admin console</h1>
          <p>Customers, subscriptions, invoices and usage across the installation.</p>
        </div>
        <button
          type="button"
          className="btn"
          onClick={() => {
            sessionStorage.removeItem(TOKEN_KEY);
            setToken(null);
          }}
        >
          Close console
        </button>
      </div>
      <div className="grid grid-3" style={{ marginBottom: '1rem' }}>
        <div className="card stat">
          <div className="label">Customers</div>
          <div className="value">{number(data.customers.length)}</div>
        </div>
        <div className="card stat">
          <div className="label">Active subscriptions</div>
          <div className="value">{data.services.subscriptions ? number(active) : '—'}</div>
        </div>
        <div className="card stat">
          <div className="label">Collected (paid invoices)</div>
          {/* One figure per currency: amounts in different currencies are never added up. */}
          <div className="value">
            {!data.services.billing || collected.length === 0
              ? data.services.billing
                ? money('0')
                : '—'
              : collected.map((c) => (
                  <div key={c.currency} data-testid={`collected-${c.currency}`}>
                    {money(c.total, c.currency)}
                  </div>
                ))}
          </div>
        </div>
      </div>
      <section className="card" aria-label="Customers">
        {data.customers.length === 0 ? (
          <Empty title="No customers yet" />
        ) : (
          <div className="table-wrap">
            <table>
              <thead>
                <tr>
                  <th>Customer</th>
                  <th>Plan</th>
                  <th>Usage this period</th>
                  <th>Invoices</th>
                  <th>Since</th>
                </tr>
              </thead>
              <tbody>
                {data.customers.map(({ customer, subscription, invoices, balances }) => (
                  <tr key={customer.id}>
                    <td>
                      <strong>{customer.name}</strong>
                      <div className="small muted">
                        {customer.email} · {customer.members} member{customer.members === 1 ? '' : 's'}
                      </div>
                      <div className="small muted mono">{customer.id}</div>
                    </td>
                    <td>
                      {subscription ? (
                        <>
                          {subscription.plan.name}{' '}
                          <Badge tone={statusTone(subscription.status)}>{subscription.status}</Badge>
                        </>
                      ) : (
                        <span className="muted">none</span>
                      )}
                    </td>
                    <td className="small">
                      {balances
                        .filter((b) => b.limit !== null)
                        .map((b) => (
                          <div key={b.featureKey}>
                            {b.featureName}: {number(b.usage)} / {number(b.limit)}
                          </div>
                        ))}
                    </td>
                    <td className="small">
                      {invoices.slice(0, 3).map((i) => (
                        <div key={i.id}>
                          {i.number} · {money(i.total, i.currency)}{' '}
                          <Badge tone={statusTone(i.status)}>{i.status}</Badge>
                        </div>
                      ))}
                    </td>
                    <td className="small">{date(customer.createdAt)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
    </>
  );
}
