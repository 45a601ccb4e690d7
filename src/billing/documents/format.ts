import { Decimal, minorUnits } from '../../util/money.ts';

/**
 * How documents (PDF, HTML page, e-mails) show money and dates to a person: amounts through
 * `Intl.NumberFormat` in the invoice's own currency (never summed across currencies) with the
 * currency's minor digits, dates as "5 Dec 2026" in UTC. Amounts stay decimal strings until
 * here; `Intl.NumberFormat` takes the string itself, so no float rounding is involved.
 */
const moneyFormats = new Map<string, Intl.NumberFormat>();

export function displayMoney(amount: string | Decimal, currency: string): string {
  let format = moneyFormats.get(currency);
  if (!format) {
    const digits = minorUnits(currency);
    format = new Intl.NumberFormat('en-US', {
      style: 'currency',
      currency,
      minimumFractionDigits: digits,
      maximumFractionDigits: digits,
    });
    moneyFormats.set(currency, format);
  }
  const text = new Decimal(amount).toFixed(minorUnits(currency));
  // `format` takes a decimal string exactly (Intl.NumberFormat v3); the cast is for older lib types.
  return format.format(text as unknown as number);
}

/**
 * A unit price beside amounts: like `displayMoney`, with more digits only when the price has them
 * ("$19.00", not "19"; "$0.0005" for half a tenth of a cent).
 */
export function displayUnitPrice(amount: string | Decimal, currency: string): string {
  const price = new Decimal(amount);
  const digits = Math.max(minorUnits(currency), price.decimalPlaces());
  if (digits === minorUnits(currency)) return displayMoney(price, currency);
  const format = new Intl.NumberFormat('en-US', {
    style: 'currency',
    currency,
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  });
  return format.format(price.toFixed(digits) as unknown as number);
}

/** One date style and one period rule for every document and portal page (see `periodText`). */
export { dayText as displayDate, periodText as displayPeriod } from '../../util/day-text.ts';
