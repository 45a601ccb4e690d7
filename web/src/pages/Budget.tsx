import { type FormEvent, useState } from 'react';
import { del, post, put } from '../api.ts';
import { FormError, formValue, useForm } from '../components/form.tsx';
import { money } from '../format.ts';
import { usePortalQuery } from '../query.ts';
import { Empty, ErrorNotice, Field, Loading, Notice, Secret } from '../ui.tsx';
import { WebhookDeliveries } from './WebhookDeliveries.tsx';

interface Alert {
  id: string;
  kind: 'amount' | 'quota_percent';
  threshold: string;
  featureKey: string | null;
  email: boolean;
  webhookUrl: string | null;
}

export function Budget() {
  const { data, error } = usePortalQuery<{
    alerts: Alert[];
    spendCap: { amount: string; currency: string } | null;
  }>('/alerts');
  const [kind, setKind] = useState<'amount' | 'quota_percent'>('amount');
  const [signingSecret, setSigningSecret] = useState<string | null>(null);
  const action = useForm(['/alerts', '/banners', '/webhook-endpoints', '/webhook-deliveries']);
  const { fields, saved, run } = action;

  const onAlert = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = event.currentTarget;
    const email = (form.elements.namedItem('email') as HTMLInputElement).checked;
    run(async () => {
      const created = await post<{ id: string; webhookSecret: string | null }>('/alerts', {
        kind,
        threshold: formValue(form, 'threshold'),
        email,
        webhookUrl: formValue(form, 'webhook') || null,
      });
      setSigningSecret(created.webhookSecret);
      form.reset();
    }, 'Alert saved.');
  };
  const onCap = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const amount = formValue(event.currentTarget, 'cap').trim();
    run(
      () => put('/spend-cap', { amount: amount || null }),
      amount ? 'Spend cap saved.' : 'Spend cap removed.',
    );
  };

  if (error) return <ErrorNotice error={error} />;
  if (!data) return <Loading />;
  return (
    <>
      <div className="page-head">
        <div>
          <h1>Budget alerts</h1>
          <p>
            Get told before a bill surprises you, by email, webhook and a banner here. Each alert fires once
            per period.
          </p>
        </div>
      </div>
      {saved && <Notice tone="ok">{saved}</Notice>}
      {signingSecret && (
        <div className="card" style={{ marginBottom: '1rem' }}>
          <h2>Webhook signing secret</h2>
          <p className="muted">
            Deliveries carry <code>webhook-id</code>, <code>webhook-timestamp</code> and{' '}
            <code>webhook-signature</code> headers (Standard Webhooks). Verify them with this secret; it is
            shown only once.
          </p>
          <Secret value={signingSecret} />
        </div>
      )}
      <FormError form={action} />
      <div className="grid grid-2" style={{ alignItems: 'start' }}>
        <section className="card" aria-labelledby="alerts-title">
          <h2 id="alerts-title">Alerts</h2>
          {data.alerts.length === 0 ? (
            <Empty title="No alerts yet" />
          ) : (
            <table>
              <tbody>
                {data.alerts.map((a) => (
                  <tr key={a.id}>
                    <td>
                      <strong>
                        {a.kind === 'amount'
                          ? `Spend reaches ${money(a.threshold)}`
                          : `Quota reaches ${Number(a.threshold)}%`}
                      </strong>
                      <div className="small muted">
                        {[a.email && 'email', a.webhookUrl && `webhook ${a.webhookUrl}`, 'banner']
                          .filter(Boolean)
                          .join(' · ')}
                      </div>
                    </td>
                    <td className="num">
                      <button
                        type="button"
                        className="btn btn-sm btn-danger"
                        onClick={() => run(() => del(`/alerts/${a.id}`), 'Alert deleted.')}
                      >
                        Delete
                      </button>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          <form onSubmit={onAlert} noValidate style={{ marginTop: '1rem' }} aria-label="New alert">
            <h3>New alert</h3>
            <fieldset className="segmented" style={{ marginBottom: '.75rem' }}>
              <legend className="sr-only">Alert type</legend>
              <button type="button" aria-pressed={kind === 'amount'} onClick={() => setKind('amount')}>
                Money
              </button>
              <button
                type="button"
                aria-pressed={kind === 'quota_percent'}
                onClick={() => setKind('quota_percent')}
              >
                % of quota
              </button>
            </fieldset>
            <Field
              label={
                kind === 'amount'
                  ? 'Alert when spend this period reaches (USD)'
                  : 'Alert when usage reaches (% of quota)'
              }
              name="threshold"
              inputMode="decimal"
              placeholder={kind === 'amount' ? 'e.g. 100.00' : 'e.g. 80'}
              required
              error={fields.threshold}
            />
            <Field
              label="Webhook URL (optional)"
              name="webhook"
              type="url"
              placeholder="e.g. https://example.com/hooks/budget"
              error={fields.webhookUrl}
            />
            <label className="row small" style={{ marginBottom: '.9rem' }}>
              <input type="checkbox" name="email" defaultChecked style={{ width: 'auto', minHeight: 0 }} />{' '}
              Email the owners
            </label>
            <button type="submit" className="btn btn-primary">
              Add alert
            </button>
          </form>
        </section>
        <section className="card" aria-labelledby="cap-title">
          <h2 id="cap-title">Hard spend cap</h2>
          <p className="muted">
            When the cost of this period reaches the cap, API calls are refused with <code>402</code> until
            the next period or until you raise the cap.
          </p>
          {data.spendCap && (
            <p>
              Current cap: <strong>{money(data.spendCap.amount, data.spendCap.currency)}</strong>
            </p>
          )}
          <form onSubmit={onCap} noValidate>
            <Field
              label="Cap per period (USD)"
              name="cap"
              inputMode="decimal"
              placeholder="No cap"
              defaultValue={data.spendCap?.amount ?? ''}
              help="Leave empty to remove the cap."
              error={fields.amount}
            />
            <button type="submit" className="btn">
              Save cap
            </button>
          </form>
        </section>
      </div>
      {data.alerts.some((a) => a.webhookUrl) && <WebhookDeliveries />}
    </>
  );
}
