import { lazy, type ReactNode, Suspense, useEffect, useRef, useState } from 'react';
import { post } from './api.ts';
import { Admin } from './pages/Admin.tsx';
import { AcceptInvite, ForgotPassword, Login, ResetPassword, Signup, VerifyEmail } from './pages/Auth.tsx';
import { Budget } from './pages/Budget.tsx';
import { Checkout, CheckoutComplete } from './pages/Checkout.tsx';
import { Credits } from './pages/Credits.tsx';
import { Docs } from './pages/Docs.tsx';
import { Home } from './pages/Home.tsx';
import { InvoicePage, Invoices } from './pages/Invoices.tsx';
import { Keys } from './pages/Keys.tsx';
import { Mailbox } from './pages/Mailbox.tsx';
import { Members } from './pages/Members.tsx';
import { Pricing } from './pages/Pricing.tsx';
import { SubscriptionPage } from './pages/Subscription.tsx';
import { usePortalMutation, usePortalQuery } from './query.ts';
import { Link, navigate, Redirect, useLocation } from './router.tsx';
import { useSession } from './session.tsx';
import { Loading, Notice } from './ui.tsx';

// The usage page carries the charting library: loaded when first visited.
const Usage = lazy(() => import('./pages/Usage.tsx').then((m) => ({ default: m.Usage })));

const APP_LINKS = [
  ['/usage', 'Usage'],
  ['/keys', 'API keys'],
  ['/subscription', 'Subscription'],
  ['/invoices', 'Invoices'],
  ['/credits', 'Credits'],
  ['/budget', 'Budget alerts'],
  ['/members', 'Members'],
] as const;

const TITLES: Record<string, string> = {
  '/docs': 'API reference',
  '/pricing': 'Pricing',
  '/signup': 'Sign up',
  '/login': 'Log in',
  '/forgot-password': 'Reset password',
  '/reset-password': 'Choose a new password',
  '/accept-invite': 'Join your team',
  '/verify': 'Confirm your email address',
  '/dev/mailbox': 'Dev mailbox',
  '/admin': 'Admin console',
  '/checkout': 'Checkout',
  '/usage': 'Usage & cost',
  '/keys': 'API keys',
  '/subscription': 'Subscription',
  '/invoices': 'Invoices',
  '/credits': 'Credits',
  '/budget': 'Budget alerts',
  '/members': 'Members',
};

function current(path: string, to: string): 'page' | undefined {
  return path === to || (to !== '/' && path.startsWith(`${to}/`)) ? 'page' : undefined;
}

function Banners() {
  const { me } = useSession();
  // A banner that cannot be read is not shown: the page itself still works.
  const { data } = usePortalQuery<{ banners: { id: string; level: string; message: string }[] }>(
    me ? '/banners' : null,
    { refetchInterval: 5000 },
  );
  const dismiss = usePortalMutation((id: string) => post(`/banners/${id}/dismiss`), ['/banners']);
  const banners = data?.banners ?? [];
  if (banners.length === 0) return null;
  return (
    <div className="stack" style={{ marginBottom: '1rem' }}>
      {banners.map((b) => (
        <Notice
          key={b.id}
          tone={b.level === 'error' ? 'error' : 'warn'}
          title={b.level === 'error' ? 'Spend cap reached' : 'Budget alert'}
          action={
            b.id !== 'spend-cap' ? (
              <button type="button" className="btn btn-sm" onClick={() => dismiss.mutate(b.id)}>
                Dismiss
              </button>
            ) : (
              <Link className="btn btn-sm" to="/budget">
                Manage
              </Link>
            )
          }
        >
          {b.message}
        </Notice>
      ))}
    </div>
  );
}

function Shell({ children }: { children: ReactNode }) {
  const { config, me, setMe } = useSession();
  const { path } = useLocation();
  const [open, setOpen] = useState(false);
  // biome-ignore lint/correctness/useExhaustiveDependencies: close the phone menu on navigation.
  useEffect(() => setOpen(false), [path]);
  const brand = config?.branding;
  const inApp = Boolean(me) && APP_LINKS.some(([to]) => current(path, to));
  // Each page gets its own title, and focus moves to the new page for screen readers.
  const first = useRef(true);
  useEffect(() => {
    const title = TITLES[path] ?? (path.startsWith('/invoices/') ? 'Invoice' : null);
    document.title = `${title ? `${title} · ` : ''}${brand?.name ?? 'Developer portal'}`;
    if (first.current) {
      first.current = false;
      return;
    }
    document.getElementById('main')?.focus({ preventScroll: true });
  }, [path, brand?.name]);
  // On a phone the account tabs scroll sideways: keep the current one in view.
  // biome-ignore lint/correctness/useExhaustiveDependencies: re-centre on navigation.
  useEffect(() => {
    const tab = document.querySelector<HTMLElement>('.subnav a[aria-current="page"]');
    const strip = tab?.parentElement;
    if (!tab || !strip || strip.scrollWidth <= strip.clientWidth) return;
    const t = tab.getBoundingClientRect();
    const s = strip.getBoundingClientRect();
    strip.scrollLeft += t.left - s.left - (s.width - t.width) / 2;
  }, [path, inApp]);
  return (
    <>
      <a className="skip" href="#main">
        Skip to content
      </a>
      <header className="topbar" data-open={open}>
        <div className="topbar-inner">
          <Link className="brand" to="/">
            {brand?.logoUrl ? (
              <img src={brand.logoUrl} alt="" />
            ) : (
              <span className="brand-mark" aria-hidden="true">
                {(brand?.name ?? 'T').slice(0, 1)}
              </span>
            )}
            <span>{brand?.name ?? 'Developer portal'}</span>
          </Link>
          <button
            type="button"
            className="btn btn-sm menu-toggle"
            aria-expanded={open}
            aria-controls="primary-nav"
            onClick={() => setOpen((o) => !o)}
          >
            Menu
          </button>
          <nav className="nav" id="primary-nav" aria-label="Primary">
            <Link to="/docs" aria-current={current(path, '/docs')}>
              API reference
            </Link>
            <Link to="/pricing" aria-current={current(path, '/pricing')}>
              Pricing
            </Link>
            {me && (
              <Link to="/usage" aria-current={inApp ? 'page' : undefined}>
                Dashboard
              </Link>
            )}
          </nav>
          <div className="account">
            {me ? (
              <>
                <span className="who" title={me.user.email}>
                  {me.organisation.name ?? me.user.email}
                </span>
                <button
                  type="button"
                  className="btn btn-sm"
                  onClick={async () => {
                    await post('/logout');
                    setMe(null);
                    navigate('/login');
                  }}
                >
                  Log out
                </button>
              </>
            ) : (
              <>
                <Link className="btn btn-sm" to="/login">
                  Log in
                </Link>
                <Link className="btn btn-sm btn-primary" to="/signup">
                  Sign up
                </Link>
              </>
            )}
          </div>
        </div>
      </header>
      {inApp && (
        <nav className="subnav" aria-label="Account">
          <div className="subnav-inner">
            {APP_LINKS.map(([to, label]) => (
              <Link key={to} to={to} aria-current={current(path, to)}>
                {label}
              </Link>
            ))}
          </div>
        </nav>
      )}
      <main id="main" tabIndex={-1} style={{ outline: 'none' }}>
        {me && inApp && <Banners />}
        {children}
      </main>
      <footer className="footer">
        {brand?.name} developer portal · <Link to="/docs">API reference</Link> ·{' '}
        <Link to="/pricing">Pricing</Link>
        {/* Operator tools are not for customers: the admin console is at /admin (admin token), and
            the dev mailbox (tollgate dev only) is offered where mail is awaited: signed out. */}
        {config?.devMailbox && !me && (
          <>
            {' '}
            · <Link to="/dev/mailbox">Dev mailbox</Link>
          </>
        )}
      </footer>
    </>
  );
}

function RequireLogin({ children }: { children: ReactNode }) {
  const { me, loading } = useSession();
  const { path, query } = useLocation();
  if (loading) return <Loading />;
  if (!me) {
    const next = path + (query.toString() ? `?${query}` : '');
    return <Redirect to={`/login?next=${encodeURIComponent(next)}`} />;
  }
  return <>{children}</>;
}

function route(path: string): ReactNode {
  // Links in gateway problems (429 upgradeUrl, 402) point at /portal/…: same pages.
  if (path.startsWith('/portal/')) return <Redirect to={path.slice('/portal'.length)} />;
  if (path === '/') return <Home />;
  if (path === '/docs') return <Docs />;
  if (path === '/pricing') return <Pricing />;
  if (path === '/signup') return <Signup />;
  if (path === '/login') return <Login />;
  if (path === '/forgot-password') return <ForgotPassword />;
  if (path === '/reset-password') return <ResetPassword />;
  if (path === '/accept-invite') return <AcceptInvite />;
  if (path === '/verify') return <VerifyEmail />;
  if (path === '/dev/mailbox') return <Mailbox />;
  if (path === '/admin') return <Admin />;
  const guarded = (node: ReactNode) => <RequireLogin>{node}</RequireLogin>;
  if (path === '/dashboard') return <Redirect to="/usage" />;
  if (path === '/checkout') return guarded(<Checkout />);
  if (path === '/checkout/complete') return guarded(<CheckoutComplete />);
  if (path === '/usage')
    return guarded(
      <Suspense fallback={<Loading />}>
        <Usage />
      </Suspense>,
    );
  if (path === '/keys') return guarded(<Keys />);
  if (path === '/subscription') return guarded(<SubscriptionPage />);
  if (path === '/invoices') return guarded(<Invoices />);
  const invoice = /^\/invoices\/([\w-]+)$/.exec(path);
  if (invoice) return guarded(<InvoicePage id={invoice[1]!} />);
  if (path === '/credits') return guarded(<Credits />);
  if (path === '/budget') return guarded(<Budget />);
  if (path === '/members') return guarded(<Members />);
  return (
    <div className="card narrow center">
      <h1>Page not found</h1>
      <p className="muted">There is nothing at {path}.</p>
      <Link className="btn btn-primary" to="/">
        Go home
      </Link>
    </div>
  );
}

export function App() {
  const { config } = useSession();
  const { path } = useLocation();
  if (!config) {
    return (
      <main>
        <Loading />
      </main>
    );
  }
  return <Shell>{route(path)}</Shell>;
}
