import type { FormEvent } from 'react';
import { del, post, type User } from '../api.ts';
import { FormError, formValue, useForm } from '../components/form.tsx';
import { date } from '../format.ts';
import { usePortalQuery } from '../query.ts';
import { useSession } from '../session.tsx';
import { Badge, ErrorNotice, Field, Loading, Notice } from '../ui.tsx';

interface Invitation {
  id: string;
  email: string;
  role: string;
  createdAt: string;
  expiresAt: string;
}

export function Members() {
  const { me, config } = useSession();
  const { data, error } = usePortalQuery<{ members: User[]; invitations: Invitation[] }>('/members');
  const owner = me?.user.role === 'owner';
  const action = useForm(['/members']);
  const { fields, saved, run } = action;

  const onInvite = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = event.currentTarget;
    const email = formValue(form, 'email');
    const role = formValue(form, 'role');
    run(
      async () => {
        await post('/members/invite', { email, role });
        form.reset();
      },
      `Invitation sent to ${email}.${config?.devMailbox ? ' (See the dev mailbox.)' : ''}`,
    );
  };

  if (error) return <ErrorNotice error={error} />;
  if (!data) return <Loading />;
  return (
    <>
      <div className="page-head">
        <div>
          <h1>Members</h1>
          <p>
            Everyone in {me?.organisation.name ?? 'your organisation'} shares its keys, usage and invoices.
          </p>
        </div>
      </div>
      {saved && <Notice tone="ok">{saved}</Notice>}
      <FormError form={action} />
      <div className="grid grid-2" style={{ alignItems: 'start' }}>
        <section className="card" aria-labelledby="members-title">
          <h2 id="members-title">People</h2>
          <table>
            <tbody>
              {data.members.map((m) => (
                <tr key={m.id}>
                  <td>
                    <strong>{m.name}</strong>{' '}
                    {m.id === me?.user.id && <span className="muted small">(you)</span>}
                    <div className="small muted">{m.email}</div>
                  </td>
                  <td>
                    <Badge tone={m.role === 'owner' ? 'brand' : undefined}>
                      {m.role === 'owner' ? 'Owner' : 'Member'}
                    </Badge>
                  </td>
                  <td className="num">
                    {owner && m.id !== me?.user.id && (
                      <button
                        type="button"
                        className="btn btn-sm btn-danger"
                        onClick={() => run(() => del(`/members/${m.id}`), `${m.name} removed.`)}
                      >
                        Remove
                      </button>
                    )}
                  </td>
                </tr>
              ))}
              {data.invitations.map((i) => (
                <tr key={i.id}>
                  <td>
                    <strong>{i.email}</strong>
                    <div className="small muted">invited, expires {date(i.expiresAt)}</div>
                  </td>
                  <td>
                    <Badge tone="warn">pending</Badge>
                  </td>
                  <td className="num">
                    {owner && (
                      <button
                        type="button"
                        className="btn btn-sm"
                        onClick={() => run(() => del(`/invitations/${i.id}`), 'Invitation revoked.')}
                      >
                        Revoke
                      </button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </section>
        {owner && (
          <section className="card" aria-labelledby="invite-title">
            <h2 id="invite-title">Invite someone</h2>
            <form onSubmit={onInvite} noValidate>
              <Field label="Email" name="email" type="email" required error={fields.email} />
              <div className="field">
                <label htmlFor="invite-role">Role</label>
                <select id="invite-role" name="role" defaultValue="member">
                  <option value="member">Member — keys, usage, invoices</option>
                  <option value="owner">Owner — also members and billing</option>
                </select>
              </div>
              <button type="submit" className="btn btn-primary">
                Send invitation
              </button>
            </form>
          </section>
        )}
      </div>
    </>
  );
}
