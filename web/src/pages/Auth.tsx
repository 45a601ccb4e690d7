import { type FormEvent, useState } from 'react';
import { get, type Me, type Plan, post, type User } from '../api.ts';
import { FormError, type FormState, formValue, useForm } from '../components/form.tsx';
import { Link, navigate, useLocation } from '../router.tsx';
import { useSession } from '../session.tsx';
import { Field, Notice, useData } from '../ui.tsx';

/** The account's own email, filled in by the browser. */
function EmailField({ form, label = 'Email' }: { form: FormState; label?: string }) {
  return (
    <Field label={label} name="email" type="email" autoComplete="email" required error={form.fields.email} />
  );
}

/** A password being chosen: the portal's rule (at least 15 characters) is checked before sending. */
function NewPasswordField({
  form,
  label = 'Password',
  help,
}: {
  form: FormState;
  label?: string;
  help?: string;
}) {
  return (
    <Field
      label={label}
      name="password"
      type="password"
      autoComplete="new-password"
      minLength={15}
      required
      help={help}
      error={form.fields.password}
    />
  );
}

/** The plan chosen before signing up, kept for after the mailed link (which may open elsewhere). */
const SIGNUP_PLAN = 'tg_signup_plan';

export function Signup() {
  const { config } = useSession();
  const { query } = useLocation();
  const [sent, setSent] = useState<string | null>(null);
  const plan = query.get('plan');
  // The plan's name ("Pro"), not its key ("pro"); nothing until the catalog has answered.
  const plans = useData(() => (plan ? get<{ plans: Plan[] }>('/plans') : Promise.resolve(null)), [plan]);
  const planName = plans.data?.plans.find((p) => p.key === plan)?.name;
  const form = useForm();
  const onSubmit = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const f = event.currentTarget;
    const email = formValue(f, 'email');
    form.run(async () => {
      // The same answer for every address: the account is created by the mailed link.
      await post('/signup', {
        name: formValue(f, 'name'),
        organisation: formValue(f, 'organisation') || undefined,
        email,
        password: formValue(f, 'password'),
      });
      if (plan) localStorage.setItem(SIGNUP_PLAN, plan);
      else localStorage.removeItem(SIGNUP_PLAN);
      setSent(email);
    });
  };
  if (sent) {
    return (
      <div className="narrow">
        <div className="card">
          <h1>Check your inbox</h1>
          <Notice tone="ok" title="Confirm your email address">
            We sent a link to {sent}. Open it within 24 hours to finish creating your account
            {planName ? ` and subscribe to ${planName}` : ''}. If this address already has an account, the
            mail says so instead.
            {config?.devMailbox && (
              <>
                {' '}
                This installation keeps mail in the{' '}
                <Link to={`/dev/mailbox?to=${encodeURIComponent(sent)}`}>dev mailbox</Link>.
              </>
            )}
          </Notice>
          <p className="small muted center" style={{ marginTop: '1rem' }}>
            <Link to="/login">Back to log in</Link>
          </p>
        </div>
      </div>
    );
  }
  return (
    <div className="narrow">
      <div className="card">
        <h1>Create your account</h1>
        <p className="muted">
          Start with {config?.branding.name ?? 'the API'} in minutes
          {planName ? `, then subscribe to ${planName}` : ''}.
        </p>
        <FormError form={form} />
        <form onSubmit={onSubmit} noValidate>
          <Field label="Your name" name="name" autoComplete="name" required error={form.fields.name} />
          <Field
            label="Organisation"
            name="organisation"
            autoComplete="organization"
            help="Keys, usage and invoices belong to the organisation. Defaults to your name."
            error={form.fields.organisation}
          />
          <EmailField form={form} label="Work email" />
          <NewPasswordField form={form} help="At least 15 characters." />
          <button className="btn btn-primary btn-block" type="submit" disabled={form.busy}>
            {form.busy ? 'Creating account…' : 'Create account'}
          </button>
        </form>
        <p className="small muted center" style={{ marginTop: '1rem' }}>
          Already have an account? <Link to="/login">Log in</Link>
        </p>
      </div>
    </div>
  );
}

export function Login() {
  const { setMe } = useSession();
  const { query } = useLocation();
  const form = useForm();
  const next = query.get('next');
  const onSubmit = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const f = event.currentTarget;
    form.run(async () => {
      await post('/login', { email: formValue(f, 'email'), password: formValue(f, 'password') });
      const me = await fetch('/api/portal/me').then((r) => r.json() as Promise<Me>);
      setMe(me);
      navigate(next?.startsWith('/') && !next.startsWith('//') ? next : '/usage');
    });
  };
  return (
    <div className="narrow">
      <div className="card">
        <h1>Log in</h1>
        {query.get('reset') && <Notice tone="ok">Your password was changed. Log in with the new one.</Notice>}
        <FormError form={form} />
        <form onSubmit={onSubmit} noValidate>
          <EmailField form={form} />
          <Field
            label="Password"
            name="password"
            type="password"
            autoComplete="current-password"
            required
            error={form.fields.password}
          />
          <button className="btn btn-primary btn-block" type="submit" disabled={form.busy}>
            {form.busy ? 'Logging in…' : 'Log in'}
          </button>
        </form>
        <p className="small muted center" style={{ marginTop: '1rem' }}>
          <Link to="/forgot-password">Forgot your password?</Link> ·{' '}
          <Link to="/signup">Create an account</Link>
        </p>
      </div>
    </div>
  );
}

export function ForgotPassword() {
  const { config } = useSession();
  const form = useForm();
  const [sent, setSent] = useState<string | null>(null);
  const onSubmit = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const email = formValue(event.currentTarget, 'email');
    form.run(async () => {
      await post('/password/forgot', { email });
      setSent(email);
    });
  };
  return (
    <div className="narrow">
      <div className="card">
        <h1>Reset your password</h1>
        {sent ? (
          <Notice tone="ok" title="Check your inbox">
            If an account exists for {sent}, we sent a link to choose a new password. It works for one hour.
            {config?.devMailbox && (
              <>
                {' '}
                This installation keeps mail in the{' '}
                <Link to={`/dev/mailbox?to=${encodeURIComponent(sent)}`}>dev mailbox</Link>.
              </>
            )}
          </Notice>
        ) : (
          <>
            <p className="muted">Enter the email of your account and we will send you a reset link.</p>
            <FormError form={form} />
            <form onSubmit={onSubmit} noValidate>
              <EmailField form={form} />
              <button className="btn btn-primary btn-block" type="submit" disabled={form.busy}>
                Send reset link
              </button>
            </form>
          </>
        )}
        <p className="small muted center" style={{ marginTop: '1rem' }}>
          <Link to="/login">Back to log in</Link>
        </p>
      </div>
    </div>
  );
}

/** The mailed sign-up link: confirming creates the account and signs in. */
export function VerifyEmail() {
  const { refresh } = useSession();
  const { query } = useLocation();
  const token = query.get('token') ?? '';
  const form = useForm();
  // A button, not on page load: mail scanners that open links must not use up the link.
  const confirm = () =>
    form.run(async () => {
      await post<{ user: User }>('/verify', { token });
      await refresh();
      const plan = localStorage.getItem(SIGNUP_PLAN);
      localStorage.removeItem(SIGNUP_PLAN);
      navigate(plan ? `/checkout?plan=${encodeURIComponent(plan)}` : '/pricing');
    });
  return (
    <div className="narrow">
      <div className="card">
        <h1>Confirm your email address</h1>
        {!token && <Notice tone="error">This page needs the link from the confirmation email.</Notice>}
        <FormError form={form} />
        <p className="muted">Confirm the address to create your account and log in.</p>
        <button
          className="btn btn-primary btn-block"
          type="button"
          onClick={confirm}
          disabled={form.busy || !token}
        >
          {form.busy ? 'Creating account…' : 'Confirm and log in'}
        </button>
      </div>
    </div>
  );
}

export function ResetPassword() {
  const { refresh } = useSession();
  const { query } = useLocation();
  const token = query.get('token') ?? '';
  const form = useForm();
  const onSubmit = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const password = formValue(event.currentTarget, 'password');
    form.run(async () => {
      await post('/password/reset', { token, password });
      await refresh();
      navigate('/usage');
    });
  };
  return (
    <div className="narrow">
      <div className="card">
        <h1>Choose a new password</h1>
        {!token && <Notice tone="error">This page needs the link from the reset email.</Notice>}
        <FormError form={form} />
        <form onSubmit={onSubmit} noValidate>
          <NewPasswordField
            form={form}
            label="New password"
            help="At least 15 characters. Other sessions are logged out."
          />
          <button className="btn btn-primary btn-block" type="submit" disabled={form.busy || !token}>
            Set password and log in
          </button>
        </form>
      </div>
    </div>
  );
}

export function AcceptInvite() {
  const { refresh } = useSession();
  const { query } = useLocation();
  const token = query.get('token') ?? '';
  const form = useForm();
  const onSubmit = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const f = event.currentTarget;
    form.run(async () => {
      await post('/invitations/accept', {
        token,
        name: formValue(f, 'name'),
        password: formValue(f, 'password'),
      });
      await refresh();
      navigate('/usage');
    });
  };
  return (
    <div className="narrow">
      <div className="card">
        <h1>Join your team</h1>
        <p className="muted">Choose your name and a password to accept the invitation.</p>
        <FormError form={form} />
        <form onSubmit={onSubmit} noValidate>
          <Field label="Your name" name="name" autoComplete="name" required error={form.fields.name} />
          <NewPasswordField form={form} />
          <button className="btn btn-primary btn-block" type="submit" disabled={form.busy || !token}>
            Accept invitation
          </button>
        </form>
      </div>
    </div>
  );
}
