import type { CreditAccount, CreditEntry } from '../../api.ts';
import { date, dateTime, money } from '../../format.ts';
import { Badge, Empty } from '../../ui.tsx';

const KINDS: Record<CreditEntry['kind'], { label: string; tone?: 'ok' | 'warn' | 'bad' | 'brand' }> = {
  grant: { label: 'Grant', tone: 'brand' },
  topup: { label: 'Top-up', tone: 'ok' },
  usage: { label: 'Usage' },
  expiry: { label: 'Expired', tone: 'warn' },
  refund: { label: 'Refund', tone: 'warn' },
  reservation: { label: 'Hold' },
  release: { label: 'Returned' },
};

function signed(amount: string, currency: string): string {
  return amount.startsWith('-') ? money(amount, currency) : `+${money(amount, currency)}`;
}

/** The credit movements of one currency, newest first. */
export function Ledger({ account, many }: { account: CreditAccount; many: boolean }) {
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
