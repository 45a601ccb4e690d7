import type { FormEvent } from 'react';
import { ApiError, type InvoiceDetail, type InvoiceSummary, post } from '../api.ts';
import { date, minus, money, periodText, provider } from '../format.ts';
import { usePortalMutation, usePortalQuery } from '../query.ts';
import { Link } from '../router.tsx';
import { useSession } from '../session.tsx';
import { Badge, Empty, ErrorNotice, Field, Loading, Notice, statusTone, Unavailable } from '../ui.tsx';

export function Invoices() {
  const { data, error } = usePortalQuery<{ available: boolean; invoices: InvoiceSummary[] }>('/invoices', {
    refetchInterval: 5000,
  });
  if (error) return <ErrorNotice error={error} />;
  if (!data) return <Loading />;
  if (!data.available) return <Unavailable what="Billing" />;
  return (
    <>
      <div className="page-head">
        <div>
          <h1>Invoices</h1>
          <p>Every invoice of your organisation, with a printable version.</p>
        </div>
      </div>
      <div className="card">
        {data.invoices.length === 0 ? (
          <Empty title="No invoices yet">
            <p>Your first invoice appears when you subscribe to a paid plan.</p>
          </Empty>
        ) : (
          <div className="table-wrap">
            <table>
              <thead>
                <tr>
                  <th scope="col">Number</th>
                  <th scope="col">Period</th>
                  <th scope="col">Issued</th>
                  <th scope="col">Status</th>
                  <th scope="col" className="num">
                    Total
                  </th>
                </tr>
              </thead>
              <tbody>
                {data.invoices.map((inv) => (
                  <tr key={inv.id}>
                    <td>
                      <Link to={`/invoices/${inv.id}`}>{inv.number}</Link>
                    </td>
                    <td>{periodText(inv.periodFrom, inv.periodTo)}</td>
                    <td>{date(inv.issuedAt)}</td>
                    <td>
                      <Badge tone={statusTone(inv.status)}>{inv.status}</Badge>
                    </td>
                    <td className="num">{money(inv.total, inv.currency)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </div>
    </>
  );
}

export function InvoicePage({ id }: { id: string }) {
  const { config } = useSession();
  const { data, error } = usePortalQuery<{ invoice: InvoiceDetail }>(`/invoices/${id}`);
  const payment = usePortalMutation(
    (card?: { number: string; expiry: string; cvc: string }) =>
      post<{ status: string; url?: string }>(`/invoices/${id}/pay`, { card }),
    [`/invoices/${id}`, '/invoices', '/credits'],
  );
  const paying = payment.isPending;
  const payError = payment.error;
  const paid = payment.isSuccess && payment.data.status !== 'redirect';
  if (error) {
    return (
      <div className="card narrow center">
        <ErrorNotice error={error} />
        <Link to="/invoices">Back to invoices</Link>
      </div>
    );
  }
  if (!data) return <Loading />;
  const inv = data.invoice;

  function pay(card?: { number: string; expiry: string; cvc: string }) {
    payment.mutate(card, {
      onSuccess: (r) => {
        if (r.status === 'redirect' && r.url) window.location.assign(r.url);
      },
    });
  }
  const onCard = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const f = event.currentTarget.elements;
    const v = (n: string) => (f.namedItem(n) as HTMLInputElement).value;
    pay({ number: v('number').replace(/\s+/g, ''), expiry: v('expiry'), cvc: v('cvc') });
  };
  const declined = payError instanceof ApiError && payError.problem.type.endsWith('/card-declined');
  const hosted = provider(config?.railName);
  const payLabel = hosted ? `Pay with ${hosted}` : 'Pay';
  return (
    <>
      <div className="page-head">
        <div>
          <p>
            <Link to="/invoices">← Invoices</Link>
          </p>
          <h1>
            Invoice {inv.number} <Badge tone={statusTone(inv.status)}>{inv.status}</Badge>
          </h1>
        </div>
        <div className="doc-actions">
          <a className="btn" href={`/api/portal/invoices/${inv.id}/html`} target="_blank" rel="noreferrer">
            Printable invoice
          </a>
          <a className="btn btn-primary" href={`/api/portal/invoices/${inv.id}/pdf`} download>
            Download PDF
          </a>
        </div>
      </div>
      {paid && <Notice tone="ok">Thank you — the invoice is paid.</Notice>}
      <div className="grid grid-main">
        <section className="card" aria-label="Lines">
          <p className="muted small">
            Period {periodText(inv.periodFrom, inv.periodTo)} · issued {date(inv.issuedAt)}
            {inv.dueAt ? ` · due ${date(inv.dueAt)}` : ''}
            {inv.paidAt ? ` · paid ${date(inv.paidAt)}` : ''}
          </p>
          <div className="table-wrap">
            <table data-testid="invoice-lines">
              <thead>
                <tr>
                  <th scope="col">Description</th>
                  <th scope="col" className="num">
                    Quantity
                  </th>
                  <th scope="col" className="num">
                    Amount
                  </th>
                </tr>
              </thead>
              <tbody>
                {inv.lines.map((l, i) => (
                  // biome-ignore lint/suspicious/noArrayIndexKey: invoice lines are immutable and ordered.
                  <tr key={i}>
                    <td>{l.description}</td>
                    <td className="num">{l.quantity ?? ''}</td>
                    <td className="num">{money(l.amount, inv.currency)}</td>
                  </tr>
                ))}
                <tr>
                  <td colSpan={2} className="num muted">
                    Subtotal
                  </td>
                  <td className="num">{money(inv.subtotal, inv.currency)}</td>
                </tr>
                <tr>
                  <td colSpan={2} className="num muted">
                    Tax
                  </td>
                  <td className="num">{money(inv.tax, inv.currency)}</td>
                </tr>
                <tr>
                  <td colSpan={2} className="num">
                    <strong>Total</strong>
                  </td>
                  <td className="num">
                    <strong>{money(inv.total, inv.currency)}</strong>
                  </td>
                </tr>
                {inv.status === 'open' && inv.amountDue !== inv.total && (
                  <tr data-testid="amount-due">
                    <td colSpan={2} className="num">
                      <strong>Amount due</strong>
                    </td>
                    <td className="num">
                      <strong>{money(inv.amountDue, inv.currency)}</strong>
                    </td>
                  </tr>
                )}
              </tbody>
            </table>
          </div>
        </section>
        {(inv.payments.length > 0 || inv.creditNotes.length > 0) && (
          <section className="card" aria-labelledby="receipts-title">
            <h2 id="receipts-title">Payments and credit notes</h2>
            {inv.payments.length > 0 && (
              <ul className="plain-list" data-testid="invoice-payments">
                {inv.payments.map((p) => (
                  <li key={p.id}>
                    <span>
                      {p.kind === 'refund' ? 'Refund' : 'Payment'} · {date(p.createdAt)}{' '}
                      <Badge tone={p.status === 'succeeded' ? 'ok' : p.status === 'failed' ? 'bad' : 'warn'}>
                        {p.status}
                      </Badge>
                    </span>
                    <span className="num">
                      {p.kind === 'refund' ? minus(p.amount, p.currency) : money(p.amount, p.currency)}
                    </span>
                  </li>
                ))}
              </ul>
            )}
            {inv.creditNotes.map((n) => (
              <div key={n.id} className="invoice-credit-note" data-testid="credit-note">
                <p>
                  <strong>Credit note {n.number}</strong> · {date(n.issuedAt)} · {n.reason.replace(/_/g, ' ')}
                  {n.memo ? ` — ${n.memo}` : ''}{' '}
                  <Badge tone={n.status === 'void' ? 'bad' : 'ok'}>{n.status}</Badge>
                </p>
                <ul className="plain-list">
                  {n.lines.map((l, i) => (
                    // biome-ignore lint/suspicious/noArrayIndexKey: credit note lines are immutable and ordered.
                    <li key={i}>
                      <span>{l.description}</span>
                      <span className="num">{minus(l.amount, n.currency)}</span>
                    </li>
                  ))}
                  <li>
                    <span className="muted">Tax</span>
                    <span className="num">{minus(n.tax, n.currency)}</span>
                  </li>
                  <li>
                    <strong>Total credited</strong>
                    <strong className="num">{minus(n.total, n.currency)}</strong>
                  </li>
                </ul>
                <p className="small muted">
                  {[
                    n.status === 'void' && n.voidedAt
                      ? `Voided on ${date(n.voidedAt)}: nothing was credited`
                      : '',
                    n.status !== 'void' && Number(n.prePaymentAmount) > 0
                      ? `${money(n.prePaymentAmount, n.currency)} taken off the amount due`
                      : '',
                    Number(n.refundAmount) > 0
                      ? `${money(n.refundAmount, n.currency)} refunded to your payment method`
                      : '',
                    Number(n.creditAmount) > 0
                      ? `${money(n.creditAmount, n.currency)} added to your credits`
                      : '',
                    Number(n.outOfBandAmount) > 0
                      ? `${money(n.outOfBandAmount, n.currency)} settled separately`
                      : '',
                  ]
                    .filter(Boolean)
                    .join(' · ')}
                </p>
              </div>
            ))}
          </section>
        )}
        {inv.status === 'open' && (
          <section className="card" aria-labelledby="pay-title">
            <h2 id="pay-title">Pay {money(inv.amountDue, inv.currency)}</h2>
            {declined ? (
              <Notice tone="error" title="Payment declined">
                {(payError as ApiError).message}
              </Notice>
            ) : (
              <ErrorNotice error={payError} />
            )}
            {config?.rail === 'sandbox' ? (
              <form onSubmit={onCard} noValidate>
                <p className="small muted">
                  Sandbox: <code>4242 4242 4242 4242</code> succeeds, <code>4000 0000 0000 0002</code> is
                  declined.
                </p>
                <Field
                  label="Card number"
                  name="number"
                  inputMode="numeric"
                  autoComplete="cc-number"
                  required
                />
                <div className="inline-fields">
                  <Field label="Expiry (MM/YY)" name="expiry" autoComplete="cc-exp" required />
                  <Field label="CVC" name="cvc" inputMode="numeric" autoComplete="cc-csc" required />
                </div>
                <button type="submit" className="btn btn-primary btn-block" disabled={paying}>
                  {paying ? 'Paying…' : 'Pay invoice'}
                </button>
              </form>
            ) : inv.paymentUrl ? (
              // The provider's own page for this invoice (Paddle renewals): a plain link opens it.
              <a className="btn btn-primary btn-block" href={inv.paymentUrl}>
                {payLabel}
              </a>
            ) : (
              <button
                type="button"
                className="btn btn-primary btn-block"
                disabled={paying}
                onClick={() => pay()}
              >
                {payLabel}
              </button>
            )}
          </section>
        )}
      </div>
    </>
  );
}
