import { useQuery } from '@tanstack/react-query';
import { type FormEvent, useState } from 'react';
import { del, get, type KeyView, post } from '../api.ts';
import { useForm } from '../components/form.tsx';
import { date, number, relative } from '../format.ts';
import { portalKey, usePortalQuery } from '../query.ts';
import { Link } from '../router.tsx';
import { rememberSecret } from '../secrets.ts';
import { useSession } from '../session.tsx';
import {
  Badge,
  Dialog,
  Empty,
  ErrorNotice,
  Field,
  Loading,
  Secret,
  statusTone,
  Unavailable,
} from '../ui.tsx';

interface UsageRow {
  value: number;
  groupBy: Record<string, string | null>;
}

/** Requests per key over the last 30 days, matched by key id or prefix (whichever the gateway records). */
async function usageByKey(): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  try {
    const r = await get<{ available: boolean; data: UsageRow[] }>(
      '/usage?meter=requests&window=DAY&groupBy=key',
    );
    for (const row of r.data) {
      const k = row.groupBy.key;
      if (k) out.set(k, (out.get(k) ?? 0) + row.value);
    }
  } catch {
    // Usage is optional here: the key list still works without metering.
  }
  return out;
}

export function Keys() {
  const { config } = useSession();
  const keys = usePortalQuery<{ keys: KeyView[] }>('/keys', { refetchInterval: 5000 });
  const usage = useQuery({
    queryKey: portalKey('/usage', 'requests-by-key'),
    queryFn: usageByKey,
    refetchInterval: 5000,
  });
  const [creating, setCreating] = useState(false);
  const [shown, setShown] = useState<{ title: string; secret: string } | null>(null);
  const [confirm, setConfirm] = useState<{ action: 'roll' | 'revoke'; key: KeyView } | null>(null);
  const action = useForm(['/keys']);
  const { busy, error, fields: fieldErrors } = action;

  if (!config?.services.keys) return <Unavailable what="API keys" />;

  const onCreate = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = event.currentTarget;
    const name = (form.elements.namedItem('name') as HTMLInputElement).value;
    const expiry = (form.elements.namedItem('expires') as HTMLInputElement).value;
    await action.run(async () => {
      const created = await post<{ key: KeyView; secret: string }>('/keys', {
        name,
        expiresAt: expiry ? new Date(`${expiry}T23:59:59Z`).toISOString() : null,
      });
      rememberSecret(created.key.id, created.secret);
      setShown({ title: `Key “${created.key.name}” created`, secret: created.secret });
      setCreating(false);
      form.reset();
    });
  };

  const onConfirm = async () => {
    if (!confirm) return;
    await action.run(async () => {
      try {
        if (confirm.action === 'roll') {
          const rolled = await post<{ key: KeyView; secret: string }>(`/keys/${confirm.key.id}/roll`);
          rememberSecret(rolled.key.id, rolled.secret);
          setShown({ title: `Key “${confirm.key.name}” rolled`, secret: rolled.secret });
        } else {
          await del(`/keys/${confirm.key.id}`);
        }
      } finally {
        setConfirm(null);
      }
    });
  };

  const list = keys.data?.keys ?? [];
  const used = (k: KeyView) => usage.data?.get(k.id) ?? usage.data?.get(k.prefix) ?? 0;
  const today = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);
  return (
    <>
      <div className="page-head">
        <div>
          <h1>API keys</h1>
          <p>
            Send a key as <code>Authorization: Bearer &lt;key&gt;</code>. Keys are stored hashed and shown
            only once.
          </p>
        </div>
        {/* One "Create key" at a time: the form below has its own while it is open. */}
        {!creating && (
          <button type="button" className="btn btn-primary" onClick={() => setCreating(true)}>
            Create key
          </button>
        )}
      </div>
      <ErrorNotice error={error && Object.keys(fieldErrors).length === 0 ? error : null} />
      {shown && (
        <div className="card" style={{ marginBottom: '1rem' }} aria-live="polite">
          <div className="card-head">
            <h2>{shown.title}</h2>
            <button type="button" className="btn btn-sm" onClick={() => setShown(null)}>
              Done
            </button>
          </div>
          <p className="muted">Copy this key now. For your security it will not be shown again.</p>
          <Secret value={shown.secret} />
        </div>
      )}
      {creating && (
        <form
          className="card"
          style={{ marginBottom: '1rem' }}
          onSubmit={onCreate}
          noValidate
          aria-label="New key"
        >
          <h2>New key</h2>
          <div className="inline-fields">
            <Field
              label="Name"
              name="name"
              placeholder="e.g. Production server"
              required
              error={fieldErrors.name}
              autoFocus
            />
            <Field
              label="Expires (optional)"
              name="expires"
              type="date"
              min={today}
              help="Leave empty for a key that does not expire."
              error={fieldErrors.expiresAt}
            />
          </div>
          <div className="row">
            <button className="btn btn-primary" type="submit" disabled={busy}>
              Create key
            </button>
            <button className="btn" type="button" onClick={() => setCreating(false)}>
              Cancel
            </button>
          </div>
        </form>
      )}
      <div className="card">
        <ErrorNotice error={keys.error} />
        {!keys.data && !keys.error && <Loading />}
        {keys.data && list.length === 0 && (
          <Empty title="No keys yet">
            <p>
              Create a key to call the API, or <Link to="/pricing">pick a plan</Link> first.
            </p>
          </Empty>
        )}
        {list.length > 0 && (
          <div className="table-wrap">
            <table>
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Key</th>
                  <th scope="col">Status</th>
                  <th scope="col">Last used</th>
                  <th scope="col" className="num">
                    Requests (30 d)
                  </th>
                  <th scope="col">Expires</th>
                  <th scope="col">
                    <span className="sr-only">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {list.map((k) => (
                  <tr key={k.id} data-testid={`key-${k.name}`}>
                    <td>
                      <strong>{k.name || 'Unnamed'}</strong>
                      <div className="small muted">created {date(k.createdAt)}</div>
                    </td>
                    <td className="mono">{k.prefix}…</td>
                    <td>
                      <Badge tone={statusTone(k.status)}>{k.status}</Badge>
                      {k.status === 'rolling' && k.graceUntil && (
                        <div className="small muted">works until {date(k.graceUntil)}</div>
                      )}
                    </td>
                    <td>{relative(k.lastUsedAt)}</td>
                    <td className="num">{number(used(k))}</td>
                    <td>{k.expiresAt ? date(k.expiresAt) : 'never'}</td>
                    <td>
                      {k.status === 'active' && (
                        <div className="row" style={{ justifyContent: 'flex-end', gap: '.4rem' }}>
                          <button
                            type="button"
                            className="btn btn-sm"
                            onClick={() => setConfirm({ action: 'roll', key: k })}
                          >
                            Roll
                          </button>
                          <button
                            type="button"
                            className="btn btn-sm btn-danger"
                            onClick={() => setConfirm({ action: 'revoke', key: k })}
                          >
                            Revoke
                          </button>
                        </div>
                      )}
                      {k.status === 'rolling' && (
                        <button
                          type="button"
                          className="btn btn-sm btn-danger"
                          onClick={() => setConfirm({ action: 'revoke', key: k })}
                        >
                          Revoke now
                        </button>
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </div>
      <Dialog
        open={confirm !== null}
        title={confirm?.action === 'roll' ? `Roll “${confirm?.key.name}”?` : `Revoke “${confirm?.key.name}”?`}
        onClose={() => setConfirm(null)}
        actions={
          <>
            <button type="button" className="btn" onClick={() => setConfirm(null)}>
              Cancel
            </button>
            <button
              type="button"
              className={`btn ${confirm?.action === 'revoke' ? 'btn-danger' : 'btn-primary'}`}
              onClick={onConfirm}
              disabled={busy}
            >
              {confirm?.action === 'roll' ? 'Roll key' : 'Revoke key'}
            </button>
          </>
        }
      >
        <p className="muted">
          {confirm?.action === 'roll'
            ? 'A new key is issued now. The current key keeps working during a grace period so you can deploy the new one without downtime.'
            : 'Requests with this key fail immediately with 401. This cannot be undone.'}
        </p>
      </Dialog>
    </>
  );
}
