import { Decimal } from 'decimal.js';
import { dayText, periodText } from '../../src/util/day-text.ts';
import { parseIsoDuration } from '../../src/util/duration.ts';

/** Display helpers. Money arrives as decimal strings and is only formatted here, never computed. */

const formatters = new Map<string, Intl.NumberFormat>();
function formatter(currency: string, places: number): Intl.NumberFormat {
  const key = `${currency}:${places}`;
  let found = formatters.get(key);
  if (!found) {
    found = new Intl.NumberFormat('en-US', {
      style: 'currency',
      currency,
      minimumFractionDigits: places,
      maximumFractionDigits: places,
    });
    formatters.set(key, found);
  }
  return found;
}

/** The currency's minor unit as Intl knows it (ISO 4217): 2 for USD, 0 for JPY, 3 for KWD. */
function minorDigits(currency: string): number {
  return (
    new Intl.NumberFormat('en-US', { style: 'currency', currency }).resolvedOptions().maximumFractionDigits ??
    2
  );
}

/**
 * A decimal string as money in its own currency, by Intl.NumberFormat: the currency's symbol and
 * minor unit ($49.00, ¥1,000, KWD 1.250), and more digits only where the amount has them (a
 * token price of $0.0000025). The string is handed to Intl as it is (Intl formats decimal
 * strings exactly), never turned into a float.
 */
export function money(amount: string | null | undefined, currency = 'USD'): string {
  if (amount === null || amount === undefined) return '—';
  try {
    const digits = minorDigits(currency);
    const significant = (amount.split('.')[1] ?? '').replace(/0+$/, '').length;
    const places = Math.min(20, Math.max(digits, significant));
    return formatter(currency, places).format(amount as Intl.StringNumericLiteral);
  } catch {
    // Not an ISO 4217 code Intl knows: show the amount as given.
    return `${currency} ${amount}`;
  }
}

/** An amount taken off (credit notes, refunds): "−$5.00", and a plain "$0.00" when nothing is. */
export function minus(amount: string, currency = 'USD'): string {
  return new Decimal(amount).isZero() ? money(amount, currency) : `−${money(amount, currency)}`;
}

/**
 * Totals per currency, summed exactly (decimal.js) and never across currencies: a dashboard
 * shows one line per currency rather than adding yen to dollars.
 */
export function moneyTotals(
  items: readonly { amount: string; currency: string }[],
): { currency: string; total: string }[] {
  const totals = new Map<string, Decimal>();
  for (const item of items) {
    totals.set(item.currency, (totals.get(item.currency) ?? new Decimal(0)).add(item.amount));
  }
  return [...totals.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([currency, total]) => ({ currency, total: total.toFixed() }));
}

export function number(value: number | null | undefined): string {
  if (value === null || value === undefined) return '—';
  return value.toLocaleString('en-US', { maximumFractionDigits: 2 });
}

export function compact(value: number): string {
  return value.toLocaleString('en-US', { notation: 'compact', maximumFractionDigits: 1 });
}

/** "5 Dec 2026" (UTC), as on the invoice documents; a billing period by their one rule. */
export function date(value: string | null | undefined): string {
  return dayText(value);
}

export { periodText };

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

/** A billing cadence in words ("month", "year"), read by the one ISO 8601 parser (src/util/duration.ts). */
export function period(iso: string | null): string {
  if (!iso) return '';
  const d = parseIsoDuration(iso);
  if (!d) return iso;
  const { years, months, weeks, days, hours, minutes, seconds } = d;
  if (hours || minutes || seconds) return iso;
  if (months === 1 && !years && !weeks && !days) return 'month';
  if (years === 1 && !months && !weeks && !days) return 'year';
  if (days === 1 && !years && !months && !weeks) return 'day';
  if (weeks === 1 && !years && !months && !days) return 'week';
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
