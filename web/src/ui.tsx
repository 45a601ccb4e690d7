import { type InputHTMLAttributes, type ReactNode, useEffect, useId, useRef, useState } from 'react';
import { ApiError } from './api.ts';

export function Field({
  label,
  error,
  help,
  ...input
}: InputHTMLAttributes<HTMLInputElement> & { label: string; error?: string; help?: ReactNode }) {
  const id = useId();
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <input
        id={id}
        aria-invalid={error ? true : undefined}
        aria-describedby={error ? `${id}-error` : help ? `${id}-help` : undefined}
        {...input}
      />
      {help && !error && (
        <span className="help" id={`${id}-help`}>
          {help}
        </span>
      )}
      {error && (
        <span className="error" id={`${id}-error`} role="alert">
          {error}
        </span>
      )}
    </div>
  );
}

export function Notice({
  tone = 'info',
  title,
  children,
  action,
}: {
  tone?: 'info' | 'ok' | 'warn' | 'error';
  title?: string;
  children?: ReactNode;
  action?: ReactNode;
}) {
  return (
    <div className={`notice notice-${tone}`} role={tone === 'error' ? 'alert' : 'status'}>
      <div className="grow">
        {title && <strong>{title}</strong>}
        {children}
      </div>
      {action}
    </div>
  );
}

export function ErrorNotice({ error }: { error: unknown }) {
  if (!error) return null;
  const message =
    error instanceof ApiError ? error.message : error instanceof Error ? error.message : String(error);
  const title = error instanceof ApiError ? error.problem.title : 'Something went wrong';
  return (
    <Notice tone="error" title={title}>
      {message !== title ? message : null}
    </Notice>
  );
}

export function Empty({ title, children }: { title: string; children?: ReactNode }) {
  return (
    <div className="empty">
      <h3>{title}</h3>
      {children}
    </div>
  );
}

export function Unavailable({ what }: { what: string }) {
  return (
    <Empty title={`${what} is not enabled on this installation`}>
      <p>The operator has not turned this module on yet. Nothing is shown rather than made-up numbers.</p>
    </Empty>
  );
}

export function Badge({ tone, children }: { tone?: 'ok' | 'warn' | 'bad' | 'brand'; children: ReactNode }) {
  return <span className={`badge${tone ? ` badge-${tone}` : ''}`}>{children}</span>;
}

export function statusTone(status: string): 'ok' | 'warn' | 'bad' | undefined {
  if (['active', 'paid', 'trialing'].includes(status)) return 'ok';
  if (['open', 'past_due', 'rolling', 'draft'].includes(status)) return 'warn';
  if (['revoked', 'expired', 'canceled', 'suspended', 'void', 'uncollectible'].includes(status)) return 'bad';
  return undefined;
}

export function CopyButton({ text, label = 'Copy' }: { text: string; label?: string }) {
  const [copied, setCopied] = useState(false);
  return (
    <button
      type="button"
      className="btn btn-sm"
      onClick={async () => {
        try {
          await navigator.clipboard.writeText(text);
        } catch {
          // Clipboard can be unavailable (http, permissions): select-and-copy still works.
        }
        setCopied(true);
        setTimeout(() => setCopied(false), 1500);
      }}
    >
      {copied ? 'Copied' : label}
    </button>
  );
}

export function Secret({ value }: { value: string }) {
  return (
    <div className="secret">
      <code data-testid="secret">{value}</code>
      <CopyButton text={value} />
    </div>
  );
}

export function Progress({ value, max, label }: { value: number; max: number; label: string }) {
  const ratio = max > 0 ? Math.min(value / max, 1) : 0;
  const tone = ratio >= 1 ? ' bad' : ratio >= 0.8 ? ' warn' : '';
  return (
    <div
      className={`progress${tone}`}
      role="progressbar"
      aria-label={label}
      aria-valuemin={0}
      aria-valuemax={max}
      aria-valuenow={Math.min(value, max)}
    >
      <span style={{ width: `${(ratio * 100).toFixed(1)}%` }} />
    </div>
  );
}

export function Dialog({
  open,
  title,
  onClose,
  children,
  actions,
}: {
  open: boolean;
  title: string;
  onClose: () => void;
  children: ReactNode;
  actions: ReactNode;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    if (open && !dialog.open) dialog.showModal();
    if (!open && dialog.open) dialog.close();
  }, [open]);
  const id = useId();
  return (
    <dialog ref={ref} aria-labelledby={id} onClose={onClose}>
      <div className="dialog-body">
        <h2 id={id}>{title}</h2>
        {children}
      </div>
      <div className="dialog-actions">{actions}</div>
    </dialog>
  );
}

/**
 * Loads data, re-runs when deps change, and optionally refreshes every `everyMs`. Only sign-up
 * (pages/Auth.tsx) still reads this way; every other page reads through TanStack Query (query.ts).
 */
export function useData<T>(load: () => Promise<T>, deps: unknown[], everyMs?: number) {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [tick, setTick] = useState(0);
  const loadRef = useRef(load);
  loadRef.current = load;
  // biome-ignore lint/correctness/useExhaustiveDependencies: callers list their own dependencies.
  useEffect(() => {
    let alive = true;
    const run = () =>
      loadRef
        .current()
        .then((value) => {
          if (alive) {
            setData(value);
            setError(null);
          }
        })
        .catch((e) => {
          if (alive) setError(e);
        });
    run();
    const timer = everyMs ? setInterval(run, everyMs) : null;
    return () => {
      alive = false;
      if (timer) clearInterval(timer);
    };
  }, [...deps, tick, everyMs]);
  return { data, error, reload: () => setTick((t) => t + 1), setData };
}

export function Loading() {
  return (
    <p className="muted" aria-live="polite">
      Loading…
    </p>
  );
}
