import { useQueryClient } from '@tanstack/react-query';
import { useEffect, useState } from 'react';
import type { CreditAccount } from '../api.ts';
import { portalKey, usePortalQuery } from '../query.ts';
import { ErrorNotice, Loading, Notice, Unavailable } from '../ui.tsx';
import { AutoRechargeCard, type CreditsResponse } from './credits/AutoRechargeCard.tsx';
import { BalanceCard } from './credits/BalanceCard.tsx';
import { Ledger } from './credits/Ledger.tsx';
import { TopUpForm } from './credits/TopUpForm.tsx';

/** The newest top-up listed: a new one appears when a pending payment is confirmed. */
const lastTopUp = (account: CreditAccount | undefined) =>
  account?.ledger.find((e) => e.kind === 'topup')?.id ?? null;

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
