import { type FormEvent, useState } from 'react';
import { type CreditsView, post, type TopUpResult } from '../../api.ts';
import { FormError, useForm } from '../../components/form.tsx';
import { money, provider } from '../../format.ts';
import { Link } from '../../router.tsx';
import { useSession } from '../../session.tsx';
import { Field, Notice } from '../../ui.tsx';

const PRESETS = ['10', '25', '50', '100'];

/** Owners buy credits: paid at once, sent to the provider's page, or pending until confirmed. */
export function TopUpForm({ view, onPending }: { view: CreditsView; onPending: (currency: string) => void }) {
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
