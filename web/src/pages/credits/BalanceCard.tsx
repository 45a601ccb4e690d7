import type { CreditAccount } from '../../api.ts';
import { date, money } from '../../format.ts';
import { Badge, Notice } from '../../ui.tsx';

/** One currency's balance, what is held and what expires next, and how the balance is spent. */
export function BalanceCard({ account, many }: { account: CreditAccount; many: boolean }) {
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
