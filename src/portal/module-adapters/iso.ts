/** ISO 8601 text of an optional date, as the portal API shows times. */
export function iso(value: Date | string | null | undefined): string | null {
  return value ? new Date(value).toISOString() : null;
}
