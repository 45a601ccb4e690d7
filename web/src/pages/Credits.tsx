import { useQueryClient } from '@tanstack/react-query';
import { type FormEvent, useEffect, useState } from 'react';
import {
  type CreditAccount,
  type CreditEntry,
  type CreditsView,
  post,
  put,
  type TopUpResult,
} from '../api.ts';
import { FormError, useForm } from '../components/form.tsx';
import { date, dateTime, money, provider } from '../format.ts';
import { portalKey, usePortalQuery } from '../query.ts';
import { Link } from '../router.tsx';
import { useSession } from '../session.tsx';
import { Badge, Empty, ErrorNotice, Field, Loading, Notice, Unavailable } from '../ui.tsx';

const PRESETS = ['10', '25', '50', '100'];

const KINDS: Record<CreditEntry['kind'], { label: string; tone?: 'ok' | 'warn' | 'bad' | 'brand' }> = {
  grant: { label: 'Grant', tone: 'brand' },
  topup: { label: 'Top-up', tone: 'ok' },
  usage: { label: 'Usage' },
  expiry: { label: 'Expired', tone: 'warn' },
  refund: { label: 'Refund', tone: 'warn' },
  reservation: { label: 'Hold' },
  release: { label: 'Returned' },
};

/** The newest top-up listed: a new one appears when a pending payment is confirmed. */
const lastTopUp = (account: CreditAccount | undefined) =>
  account?.ledger.find((e) => e.kind === 'topup')?.id ?? null;

function signed(amount: string, currency: string): string {
  return amount.startsWith('-') ? money(amount, currency) : `+${money(amount, currency)}`;
}

function BalanceCard({ account, many }: { account: CreditAccount; many: boolean }) {
  const c = account.currency;
  const empty = !account.balance.startsWith('-') && Number(account.balance) === 0;
  return (
    <section className="card stat credit-balance" aria-labelledby={`balance-${c}`}>
      <div className="card-head">
        <div className="label" id={`balance-${c}`}>
          Balance{many ? ` (${c})` : ''}
        </div>
        {account.creditsOnly && <Badge tone="brand">Credits-only</Badge>}
      </div>
      <div className="value" data-testid={`credit-balance-${c}`}>
        {money(account.balance, c)}
      </div>
      {Number(account.held) > 0 && (
        <div className="hint">{money(account.held, c)} held for API calls in flight</div>
      )}
      {account.nextExpiry && (
        <div className="hint">
          {money(account.nextExpiry.amount, c)} expires on {date(account.nextExpiry.expiresAt)}
        </div>
      )}
      {account.creditsOnly ? (
        <Notice tone={empty ? 'error' : 'info'} title={empty ? 'Your credits are used up' : undefined}>
          API calls are paid from this balance as they happen. At zero, calls are refused with{' '}
          <code>402</code> until you top up.
        </Notice>
      ) : (
        <p className="small muted credit-note">
          Invoices are paid from credits first; your card is charged for the rest.
        </p>
      )}
    </section>
  );
}

type CreditsResponse = { available: boolean; credits: CreditsView | null };

const isAmount = (value: string) => /^\d+(\.\d+)?$/.test(value.trim());

function AutoRechargeCard({
  account,
  view,
  many,
  onSaved,
}: {
  account: CreditAccount;
  view: CreditsView;
  many: boolean;
  onSaved: (response: CreditsResponse) => void;
}) {
  const { me } = useSession();
  const owner = me?.user.role === 'owner';
  const c = account.currency;
  const current = account.autoRecharge;
  const [enabled, setEnabled] = useState(current !== null);
  const [threshold, setThreshold] = useState(current?.threshold ?? '10.00');
  const [amount, setAmount] = useState(current?.amount ?? '25.00');
  const form = useForm();
  // It buys top-ups, so it needs what they need to turn on; turning it off needs nothing.
  const cannotEnable = Boolean(view.topUpBlocked) && !current;
  const changed =
    enabled !== (current !== null) ||
    (enabled && (threshold.trim() !== current?.threshold || amount.trim() !== current?.amount));

  const onSubmit = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    form.run(
      async () => {
        const r = await put<CreditsResponse>(
          '/credits/auto-recharge',
          enabled
            ? { currency: c, enabled, threshold: threshold.trim(), amount: amount.trim() }
            : { currency: c, enabled },
        );
        // The server answers in the currency's minor unit ("10" → "10.00").
        const saved = r.credits?.accounts.find((a) => a.currency === c)?.autoRecharge;
        if (saved) {
          setThreshold(saved.threshold);
          setAmount(saved.amount);
        }
        onSaved(r);
      },
      enabled ? 'Auto-recharge is on.' : 'Auto-recharge is off.',
    );
  };

  return (
    <section className="card auto-recharge" aria-labelledby={`auto-recharge-${c}`}>
      <div className="card-head">
        <h2 id={`auto-recharge-${c}`}>Auto-recharge{many ? ` (${c})` : ''}</h2>
        <Badge tone={current ? 'ok' : undefined}>{current ? 'On' : 'Off'}</Badge>
      </div>
      <p className="small muted">
        When your balance falls below the threshold (after an invoice, or after calls on a credits-only
        account), the top-up amount is bought for you: one automatic top-up at a time.
      </p>
      {form.saved && !form.busy && <Notice tone="ok">{form.saved}</Notice>}
      {!owner && <Notice tone="info">Only owners of the organisation can change auto-recharge.</Notice>}
      {owner && cannotEnable && (
        <Notice tone="warn" title="Auto-recharge cannot be turned on yet">
          {view.topUpBlocked}
        </Notice>
      )}
      <FormError form={form} />
      <form onSubmit={onSubmit} noValidate aria-label={`Auto-recharge${many ? ` (${c})` : ''}`}>
        <label className="switch">
          <input
            type="checkbox"
            role="switch"
            checked={enabled}
            aria-checked={enabled}
            onChange={(e) => setEnabled(e.target.checked)}
            disabled={!owner || (cannotEnable && !enabled)}
          />
          <span>Recharge automatically</span>
        </label>
        <div className="inline-fields">
          <Field
            label={`Threshold (${c})`}
            name="threshold"
            inputMode="decimal"
            autoComplete="off"
            value={threshold}
            onChange={(e) => setThreshold(e.target.value)}
            disabled={!owner || !enabled}
            error={form.fields.threshold}
          />
          <Field
            label={`Top-up amount (${c})`}
            name="amount"
            inputMode="decimal"
            autoComplete="off"
            value={amount}
            onChange={(e) => setAmount(e.target.value)}
            disabled={!owner || !enabled}
            error={form.fields.amount}
          />
        </div>
        <p className="small muted auto-recharge-summary" data-testid={`auto-recharge-summary-${c}`}>
          {!enabled
            ? 'Off: credits are bought only when you buy them.'
            : isAmount(threshold) && isAmount(amount)
              ? `When the balance falls below ${money(threshold.trim(), c)}, ${money(amount.trim(), c)} is charged to ${view.paymentMethod ?? 'your saved payment method'}.`
              : 'Enter the threshold and the amount to buy.'}
        </p>
        {owner && (
          <button type="submit" className="btn btn-primary" disabled={form.busy || !changed}>
            {form.busy ? 'Saving…' : 'Save auto-recharge'}
          </button>
        )}
      </form>
    </section>
  );
}

function TopUpForm({ view, onPending }: { view: CreditsView; onPending: (currency: string) => void }) {
  const { me, config } = useSession();
  const owner = me?.user.role === 'owner';
  const [currency, setCurrency] = useState(view.defaultCurrency);
  const [amount, setAmount] = useState('25');
  const [paid, setPaid] = useState<string | null>(null);
  const form = useForm(['/credits']);
  const hosted = provider(config?.railName);
  const blocked = view.topUpBlocked;

  const onSubmit = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    setPaid(null);
    form.run(async () => {
      const r = await post<TopUpResult>('/credits/topups', { amount: amount.trim(), currency });
      if (r.status === 'redirect') {
        window.location.assign(r.url);
        return;
      }
      if (r.status === 'paid') setPaid(`${money(amount.trim(), currency)} of credits added.`);
      else onPending(currency);
    });
  };

  return (
    <section className="card" aria-labelledby="topup-title">
      <h2 id="topup-title">Buy credits</h2>
      {paid && <Notice tone="ok">{paid}</Notice>}
      {!owner && <Notice tone="info">Only owners of the organisation can buy credits.</Notice>}
      {owner && blocked && (
        <>
          <Notice tone="warn" title="Credits cannot be bought yet">
            {blocked}
          </Notice>
          {!view.paymentMethod && config?.rail !== 'invoice' && (
            <Link className="btn btn-primary btn-block" to="/pricing">
              See plans
            </Link>
          )}
        </>
      )}
      <FormError form={form} />
      <form onSubmit={onSubmit} noValidate aria-label="Buy credits" hidden={owner && Boolean(blocked)}>
        <fieldset className="presets" disabled={!owner || Boolean(blocked)}>
          <legend className="sr-only">Amount</legend>
          {PRESETS.map((p) => (
            <button
              key={p}
              type="button"
              className="btn"
              aria-pressed={amount === p}
              onClick={() => setAmount(p)}
            >
              {money(p, currency)}
            </button>
          ))}
        </fieldset>
        <div className={view.accounts.length > 1 ? 'inline-fields' : undefined}>
          <Field
            label={`Amount (${currency})`}
            name="amount"
            inputMode="decimal"
            autoComplete="off"
            value={amount}
            onChange={(e) => setAmount(e.target.value)}
            disabled={!owner || Boolean(blocked)}
            error={form.fields.amount}
          />
          {view.accounts.length > 1 && (
            <div className="field">
              <label htmlFor="topup-currency">Currency</label>
              <select id="topup-currency" value={currency} onChange={(e) => setCurrency(e.target.value)}>
                {view.accounts.map((a) => (
                  <option key={a.currency}>{a.currency}</option>
                ))}
              </select>
              {form.fields.currency && <span className="error">{form.fields.currency}</span>}
            </div>
          )}
        </div>
        <button
          type="submit"
          className="btn btn-primary btn-block"
          disabled={!owner || Boolean(blocked) || form.busy}
        >
          {form.busy
            ? 'Buying…'
            : `${hosted ? `Pay with ${hosted}` : 'Buy'} ${/^\d+(\.\d+)?$/.test(amount.trim()) ? money(amount.trim(), currency) : 'credits'}`}
        </button>
        {view.paymentMethod && !blocked && (
          <p className="small muted credit-note">
            {hosted ? 'Paid on the provider’s page. ' : `Charged to ${view.paymentMethod}. `}
            Credits appear here once the payment is confirmed.
          </p>
        )}
      </form>
    </section>
  );
}

function Ledger({ account, many }: { account: CreditAccount; many: boolean }) {
  const c = account.currency;
  return (
    <section className="card" aria-labelledby={`ledger-${c}`}>
      <h2 id={`ledger-${c}`}>History{many ? ` (${c})` : ''}</h2>
      {account.ledger.length === 0 ? (
        <Empty title="No credit movements yet">
          <p>Top-ups, grants and the usage they pay for are listed here.</p>
        </Empty>
      ) : (
        <div className="table-wrap">
          <table className="credit-ledger" data-testid={`credit-ledger-${c}`}>
            <thead>
              <tr>
                <th scope="col" className="col-date">
                  Date
                </th>
                <th scope="col">Description</th>
                <th scope="col" className="num">
                  Amount
                </th>
              </tr>
            </thead>
            <tbody>
              {account.ledger.map((e) => {
                const kind = KINDS[e.kind] ?? { label: e.kind };
                return (
                  <tr key={e.id}>
                    <td className="col-date">{dateTime(e.createdAt)}</td>
                    <td>
                      <Badge tone={kind.tone}>{kind.label}</Badge>{' '}
                      {e.note && e.note !== kind.label ? e.note : ''}
                      <div className="small muted date-inline">{dateTime(e.createdAt)}</div>
                      {e.expiresAt && (
                        <div className="small muted">
                          {new Date(e.expiresAt) > new Date() ? 'Expires' : 'Expired'} {date(e.expiresAt)}
                        </div>
                      )}
                    </td>
                    <td className={`num${e.amount.startsWith('-') ? '' : ' credit-in'}`}>
                      {signed(e.amount, c)}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
          {account.ledger.length >= 100 && <p className="small muted">The last 100 movements.</p>}
        </div>
      )}
    </section>
  );
}

export function Credits() {
  // Waiting for a top-up's confirmation: its currency and the newest top-up listed before it.
  const [pending, setPending] = useState<{ currency: string; before: string | null } | null>(null);
  const [added, setAdded] = useState(false);
  const client = useQueryClient();
  const { data, error } = usePortalQuery<CreditsResponse>('/credits', {
    refetchInterval: pending ? 2000 : 15000,
  });
  // Saving auto-recharge answers with the whole view: shown as it is, without another read.
  const setData = (r: CreditsResponse) => client.setQueryData(portalKey('/credits'), r);
  const account = (currency: string) => data?.credits?.accounts.find((a) => a.currency === currency);
  const arrived = pending !== null && lastTopUp(account(pending.currency)) !== pending.before;
  useEffect(() => {
    if (arrived) {
      setPending(null);
      setAdded(true);
    }
  }, [arrived]);

  if (error) return <ErrorNotice error={error} />;
  if (!data) return <Loading />;
  if (!data.available || !data.credits) return <Unavailable what="Billing" />;
  const view = data.credits;
  const many = view.accounts.length > 1;
  return (
    <>
      <div className="page-head">
        <div>
          <h1>Credits</h1>
          <p>Prepaid credits pay for your usage. Buy them ahead and watch what they are spent on.</p>
        </div>
      </div>
      {pending && (
        <Notice tone="info" title="Payment pending">
          Your credits appear here as soon as the payment is confirmed, usually within seconds.
        </Notice>
      )}
      {added && <Notice tone="ok">Your top-up is confirmed: the credits are in your balance.</Notice>}
      <div className="grid grid-main" style={{ marginBottom: '1rem' }}>
        <div className="stack">
          {view.accounts.map((a) => (
            <div className="stack" key={a.currency}>
              <BalanceCard account={a} many={many} />
              <AutoRechargeCard account={a} view={view} many={many} onSaved={setData} />
            </div>
          ))}
        </div>
        <TopUpForm
          view={view}
          onPending={(currency) => {
            setAdded(false);
            setPending({ currency, before: lastTopUp(account(currency)) });
          }}
        />
      </div>
      {view.accounts.map((a) => (
        <Ledger key={a.currency} account={a} many={many} />
      ))}
    </>
  );
}
