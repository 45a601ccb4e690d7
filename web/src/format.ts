/** Display helpers. Money arrives as decimal strings and is only formatted here, never computed. */

const SYMBOLS: Record<string, string> = { USD: '$', EUR: '€', GBP: '£', JPY: '¥' };

export function money(amount: string | null | undefined, currency = 'USD'): string {
  if (amount === null || amount === undefined) return '—';
  const negative = amount.startsWith('-');
  const digits = negative ? amount.slice(1) : amount;
  const [whole = '0', fraction = ''] = digits.split('.');
  const grouped = whole.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  const minor = fraction.length > 2 ? fraction.replace(/0+$/, '').padEnd(2, '0') : fraction.padEnd(2, '0');
  const symbol = SYMBOLS[currency] ?? `${currency} `;
  return `${negative ? '−' : ''}${symbol}${grouped}.${minor}`;
}

export function number(value: number | null | undefined): string {
  if (value === null || value === undefined) return '—';
  return value.toLocaleString('en-US', { maximumFractionDigits: 2 });
}

export function compact(value: number): string {
  return value.toLocaleString('en-US', { notation: 'compact', maximumFractionDigits: 1 });
}

export function date(value: string | null | undefined): string {
  if (!value) return '—';
  return new Date(value).toLocaleDateString('en-GB', {
    day: 'numeric',
    month: 'short',
    year: 'numeric',
    timeZone: 'UTC',
  });
}

export function dateTime(value: string | null | undefined): string {
  if (!value) return '—';
  return (
    new Date(value).toLocaleString('en-GB', {
      day: 'numeric',
      month: 'short',
      hour: '2-digit',
      minute: '2-digit',
      timeZone: 'UTC',
    }) + ' UTC'
  );
}

export function relative(value: string | null | undefined): string {
  if (!value) return 'never';
  const seconds = Math.round((Date.now() - new Date(value).getTime()) / 1000);
  if (seconds < 0) return 'just now';
  if (seconds < 60) return `${seconds}s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  if (seconds < 86_400) return `${Math.floor(seconds / 3600)} h ago`;
  return `${Math.floor(seconds / 86_400)} d ago`;
}

export function period(iso: string | null): string {
  if (!iso) return '';
  const m = /^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?/.exec(iso);
  if (!m) return iso;
  if (m[2] === '1' && !m[1] && !m[3] && !m[4]) return 'month';
  if (m[1] === '1' && !m[2]) return 'year';
  if (m[4] === '1') return 'day';
  if (m[3] === '1') return 'week';
  return iso;
}

export function windowText(window: string): string {
  const unit = window.slice(-1);
  const n = window.slice(0, -1);
  const name = { s: 'second', m: 'minute', h: 'hour', d: 'day' }[unit] ?? window;
  return n === '1' ? name : `${n} ${name}s`;
}

const PROVIDERS: Record<string, string> = { stripe: 'Stripe', paddle: 'Paddle', recurly: 'Recurly' };

/** The payment provider of a hosted rail by name, for labels ("Pay with Paddle"); null if none. */
export function provider(railName: string | null | undefined): string | null {
  return (railName && PROVIDERS[railName]) ?? null;
}
