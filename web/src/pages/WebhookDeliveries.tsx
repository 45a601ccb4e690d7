import { post } from '../api.ts';
import { FormError, useForm } from '../components/form.tsx';
import { usePortalQuery } from '../query.ts';
import { Badge, Empty, ErrorNotice, Loading, Notice } from '../ui.tsx';

/**
 * The organisation's own webhook endpoints (budget alerts' URLs), each enabled or disabled with
 * the reason and time, and the deliveries sent to them with their attempts. An endpoint that
 * answered 410 Gone or kept failing is disabled by the server; its owner turns it back on here.
 */
interface Attempt {
  attemptedAt: string;
  statusCode: number | null;
  error: string | null;
  durationMs: number;
}

interface WebhookDelivery {
  id: string;
  endpointId: string;
  messageId: string;
  type: string;
  status: 'pending' | 'succeeded' | 'failed';
  attempts: number;
  nextAttemptAt: string | null;
  createdAt: string;
  attemptLog: Attempt[];
}

interface WebhookEndpoint {
  id: string;
  url: string;
  enabled: boolean;
  disabledReason: string | null;
  disabledAt: string | null;
}

const time = (iso: string) => new Date(iso).toLocaleString();
const outcome = (a: Attempt) => (a.statusCode ? `HTTP ${a.statusCode}` : (a.error ?? 'no answer'));

function Endpoints({ endpoints }: { endpoints: WebhookEndpoint[] }) {
  const action = useForm(['/webhook-endpoints', '/webhook-deliveries']);
  const disabled = endpoints.filter((e) => !e.enabled);
  if (disabled.length === 0 && !action.saved) return null;
  return (
    <div className="stack" style={{ marginBottom: '1rem' }}>
      {action.saved && <Notice tone="ok">{action.saved}</Notice>}
      <FormError form={action} />
      {disabled.map((e) => (
        <Notice
          key={e.id}
          tone="warn"
          title={`Webhook disabled: ${e.url}`}
          action={
            <button
              type="button"
              className="btn btn-sm"
              disabled={action.busy}
              onClick={() =>
                action.run(() => post(`/webhook-endpoints/${e.id}/enable`), `Webhook ${e.url} enabled again.`)
              }
            >
              Enable again
            </button>
          }
        >
          <div data-testid="endpoint-disabled">
            {e.disabledReason ?? 'Disabled.'}
            {e.disabledAt && <> Since {time(e.disabledAt)}.</>} Nothing is sent to it until you enable it
            again; alerts still show here as banners.
          </div>
        </Notice>
      ))}
    </div>
  );
}

export function WebhookDeliveries() {
  const endpoints = usePortalQuery<{ endpoints: WebhookEndpoint[] }>('/webhook-endpoints', {
    refetchInterval: 10_000,
  });
  const { data, error } = usePortalQuery<{ deliveries: WebhookDelivery[] }>('/webhook-deliveries', {
    refetchInterval: 10_000,
  });
  if (error || endpoints.error) return <ErrorNotice error={error ?? endpoints.error} />;
  if (!data || !endpoints.data) return <Loading />;
  const urlOf = new Map(endpoints.data.endpoints.map((e) => [e.id, e]));
  return (
    <section className="card" aria-labelledby="deliveries-title" style={{ marginTop: '1rem' }}>
      <h2 id="deliveries-title">Webhook deliveries</h2>
      <p className="muted">
        What was sent to your alert webhooks. Failed attempts are retried for about a day; the{' '}
        <code>webhook-id</code> header stays the same on every attempt. A webhook that answers{' '}
        <code>410 Gone</code>, or fails for days, is disabled.
      </p>
      <Endpoints endpoints={endpoints.data.endpoints} />
      {data.deliveries.length === 0 ? (
        <Empty title="Nothing sent yet" />
      ) : (
        <div className="table-wrap">
          <table>
            <thead>
              <tr>
                <th>Sent</th>
                <th>Event</th>
                <th>Status</th>
                <th>Attempts</th>
              </tr>
            </thead>
            <tbody>
              {data.deliveries.map((d) => (
                <tr key={d.id}>
                  <td className="small">{time(d.createdAt)}</td>
                  <td>
                    <code>{d.type}</code>
                    <div className="small muted">{d.messageId}</div>
                    {urlOf.get(d.endpointId) && (
                      <div className="small muted">
                        to {urlOf.get(d.endpointId)!.url}{' '}
                        {!urlOf.get(d.endpointId)!.enabled && <Badge tone="bad">disabled</Badge>}
                      </div>
                    )}
                  </td>
                  <td>
                    {d.status}
                    {d.status === 'pending' && d.nextAttemptAt && (
                      <div className="small muted">next try {time(d.nextAttemptAt)}</div>
                    )}
                  </td>
                  <td className="small">
                    {d.attemptLog.length === 0
                      ? '—'
                      : d.attemptLog.map((a) => (
                          <div key={a.attemptedAt}>
                            {time(a.attemptedAt)}: {outcome(a)} ({a.durationMs} ms)
                          </div>
                        ))}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
