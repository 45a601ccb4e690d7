import { get } from '../api.ts';
import { Empty, ErrorNotice, Loading, useData } from '../ui.tsx';

/** Deliveries to the organisation's own webhook URLs (budget alerts), each with its attempts. */
interface Attempt {
  attemptedAt: string;
  statusCode: number | null;
  error: string | null;
  durationMs: number;
}

interface WebhookDelivery {
  id: string;
  messageId: string;
  type: string;
  status: 'pending' | 'succeeded' | 'failed';
  attempts: number;
  nextAttemptAt: string | null;
  createdAt: string;
  attemptLog: Attempt[];
}

const time = (iso: string) => new Date(iso).toLocaleString();
const outcome = (a: Attempt) => (a.statusCode ? `HTTP ${a.statusCode}` : (a.error ?? 'no answer'));

export function WebhookDeliveries() {
  const { data, error } = useData(
    () => get<{ deliveries: WebhookDelivery[] }>('/webhook-deliveries'),
    [],
    10_000,
  );
  if (error) return <ErrorNotice error={error} />;
  if (!data) return <Loading />;
  return (
    <section className="card" aria-labelledby="deliveries-title" style={{ marginTop: '1rem' }}>
      <h2 id="deliveries-title">Webhook deliveries</h2>
      <p className="muted">
        What was sent to your alert webhooks. Failed attempts are retried for about a day; the{' '}
        <code>webhook-id</code> header stays the same on every attempt.
      </p>
      {data.deliveries.length === 0 ? (
        <Empty title="Nothing sent yet" />
      ) : (
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
      )}
    </section>
  );
}
