import { z } from 'zod';
import { parseIsoDuration, parseWindow } from '../../util/duration.ts';
import { JSON_PATH_PATTERN } from '../../util/jsonpath.ts';
import { isMoneyString } from '../../util/money.ts';

/** Field types the config schema shares: slugs, money, durations, windows, JSONPaths, hooks, sizes. */

export const slug = z
  .string()
  .regex(/^[a-z0-9][a-z0-9_-]*$/, 'use lowercase letters, digits, "_" and "-" (e.g. "api_requests")');

const MONEY_MESSAGE =
  'money must be a decimal string such as "49.00" (numbers are refused: floats lose cents)';
// A refined string (not z.custom), so the admin API's OpenAPI document can describe it.
export const money = z.string({ error: MONEY_MESSAGE }).refine(isMoneyString, MONEY_MESSAGE);

export const isoDuration = z
  .string()
  .refine(
    (v) => parseIsoDuration(v) !== null,
    'must be an ISO 8601 duration such as "P1M", "P14D" or "PT1H"',
  );

export const window = z
  .string()
  .refine((v) => parseWindow(v) !== null, 'must be a window such as "1s", "1m", "1h" or "1d"');

export const jsonPath = z
  .string()
  .regex(JSON_PATH_PATTERN, 'must be a JSONPath such as "$.tokens" or "$.usage[0].tokens"');

export const fn = <T>(what: string) =>
  z.custom<T>((v) => typeof v === 'function', { message: `must be a function (${what})` });

export const bytes = z
  .number()
  .int()
  .min(1024)
  .max(1024 * 1024 * 1024);
export const timeoutMs = z.number().int().min(100).max(3_600_000);
