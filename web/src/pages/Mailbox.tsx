import { dateTime } from '../format.ts';
import { usePortalQuery } from '../query.ts';
import { useLocation } from '../router.tsx';
import { Empty, ErrorNotice, Loading } from '../ui.tsx';

interface Mail {
  id: string;
  to: string;
  subject: string;
  text: string;
  createdAt: string;
}

/** Renders a mail body with its links clickable. */
function Body({ text }: { text: string }) {
  const parts = text.split(/(https?:\/\/\S+)/g);
  return (
    <pre style={{ whiteSpace: 'pre-wrap', overflowWrap: 'anywhere', fontFamily: 'inherit', margin: 0 }}>
      {parts.map((part, i) =>
        /^https?:\/\//.test(part) ? (
          // biome-ignore lint/suspicious/noArrayIndexKey: parts of one immutable text.
          <a key={i} href={part.replace(/^https?:\/\/[^/]+/, '')}>
            {part}
          </a>
        ) : (
          part
        ),
      )}
    </pre>
  );
}

export function Mailbox() {
  const { query } = useLocation();
  const to = query.get('to');
  const { data, error } = usePortalQuery<{ messages: Mail[] }>(
    `/dev/mailbox${to ? `?to=${encodeURIComponent(to)}` : ''}`,
    { refetchInterval: 3000 },
  );
  return (
    <>
      <div className="page-head">
        <div>
          <h1>Dev mailbox</h1>
          <p>
            No SMTP server is configured, so portal mail is printed to the log and kept here
            {to ? ` (showing mail to ${to})` : ''}.
          </p>
        </div>
      </div>
      <ErrorNotice error={error} />
      {!data && !error && <Loading />}
      {data && data.messages.length === 0 && <Empty title="No mail yet" />}
      <div className="stack">
        {data?.messages.map((m) => (
          <article className="card" key={m.id} aria-label={m.subject}>
            <div className="card-head">
              <h2>{m.subject}</h2>
              <span className="muted small">{dateTime(m.createdAt)}</span>
            </div>
            <p className="small muted">To: {m.to}</p>
            <Body text={m.text} />
          </article>
        ))}
      </div>
    </>
  );
}
