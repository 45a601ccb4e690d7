import { type FormEvent, useState } from 'react';
import { type CreditAccount, type CreditsView, put } from '../../api.ts';
import { FormError, useForm } from '../../components/form.tsx';
import { money } from '../../format.ts';
import { useSession } from '../../session.tsx';
import { Badge, Field, Notice } from '../../ui.tsx';

export type CreditsResponse = { available: boolean; credits: CreditsView | null };

const isAmount = (value: string) => /^\d+(\.\d+)?$/.test(value.trim());

/** Owners turn auto-recharge on or off for one currency and set its threshold and amount. */
export function AutoRechargeCard({
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
