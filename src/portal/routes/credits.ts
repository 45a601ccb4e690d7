import { createRoute, z } from '@hono/zod-openapi';
import { problems } from '../../http/problem.ts';
import { Decimal, minorUnits } from '../../util/money.ts';
import { json, type PortalApp, type PortalRouteContext, portalProblems } from './context.ts';
import { cardDeclined } from './errors.ts';
import { creditAmount, currencyCode, jsonBody } from './schemas.ts';

/** The most one top-up buys, in minor units: 10,000.00 USD, 1,000,000 JPY, 1,000.000 KWD. */
const MAX_TOP_UP_MINOR = 1_000_000;

/**
 * What is wrong with an amount of credits (a decimal string in the currency's minor unit, at most
 * what one top-up buys), or null. Zero is refused unless `zero` says it means something (a threshold).
 */
function creditAmountError(
  amount: string,
  currency: string,
  options: { zero?: boolean } = {},
): string | null {
  const digits = minorUnits(currency);
  const max = new Decimal(MAX_TOP_UP_MINOR).div(10 ** digits).toFixed(digits);
  const example = new Decimal(25).toFixed(digits);
  if (!/^\d+(\.\d+)?$/.test(amount)) return `a decimal string such as "${example}"`;
  if ((amount.split('.')[1]?.length ?? 0) > digits) {
    return digits === 0
      ? `${currency} has no minor unit: a whole amount such as "${example}"`
      : `at most ${digits} decimal places for ${currency}`;
  }
  const value = new Decimal(amount);
  if (value.lte(0) && !options.zero) return 'must be more than zero';
  if (value.gt(max)) return `at most ${max} ${currency}${options.zero ? '' : ' per top-up'}`;
  return null;
}

/** Prepaid credits: balance and ledger, top-ups, and auto-recharge. */
const tags = ['Credits'];

export function mountCreditRoutes(api: PortalApp, ctx: PortalRouteContext): void {
  const { sessionOf, ownerOf, billingPort, deps } = ctx;
  /** The currency asked for (else the default), if the account is billed or holds credits in it. */
  async function creditCurrency(customerId: string, asked: string | undefined): Promise<string> {
    const credits = await billingPort().credits(customerId);
    const currency = asked ?? credits.defaultCurrency;
    if (!credits.accounts.some((a) => a.currency === currency)) {
      throw problems.validation(`currency: this account is billed in ${credits.defaultCurrency}`, [
        { path: 'currency', message: `this account is billed in ${credits.defaultCurrency}` },
      ]);
    }
    return currency;
  }

  api.openapi(
    createRoute({
      method: 'get',
      path: '/credits',
      tags,
      responses: { 200: json('OK'), ...portalProblems },
    }),
    async (c) => {
      const billing = deps.ports().billing;
      if (!billing) return c.json({ available: false, credits: null }, 200);
      return c.json({ available: true, credits: await billing.credits(sessionOf(c).customerId) }, 200);
    },
  );

  api.openapi(
    createRoute({
      method: 'post',
      path: '/credits/topups',
      tags,
      request: {
        body: jsonBody(z.strictObject({ amount: creditAmount, currency: currencyCode.optional() })),
      },
      responses: { 200: json('OK'), 201: json('Created'), 202: json('Accepted'), ...portalProblems },
    }),
    async (c) => {
      const customerId = ownerOf(c);
      const input = c.req.valid('json');
      const currency = await creditCurrency(customerId, input.currency);
      const invalid = creditAmountError(input.amount, currency);
      if (invalid) throw problems.validation(`amount: ${invalid}`, [{ path: 'amount', message: invalid }]);
      const result = await billingPort().topUp(customerId, { amount: input.amount, currency });
      if (result.status === 'declined') {
        throw cardDeclined(result.message);
      }
      return c.json(result, result.status === 'paid' ? 201 : result.status === 'pending' ? 202 : 200);
    },
  );

  api.openapi(
    createRoute({
      method: 'put',
      path: '/credits/auto-recharge',
      tags,
      request: {
        body: jsonBody(
          z.strictObject({
            currency: currencyCode.optional(),
            enabled: z.boolean('true or false'),
            threshold: creditAmount.optional(),
            amount: creditAmount.optional(),
          }),
        ),
      },
      responses: { 200: json('OK'), ...portalProblems },
    }),
    async (c) => {
      const customerId = ownerOf(c);
      const input = c.req.valid('json');
      const currency = await creditCurrency(customerId, input.currency);
      const errors: { path: string; message: string }[] = [];
      const check = (path: 'threshold' | 'amount', value: string | undefined) => {
        if (value === undefined) {
          if (input.enabled) errors.push({ path, message: 'required to turn auto-recharge on' });
          return;
        }
        const invalid = creditAmountError(value, currency, { zero: path === 'threshold' });
        if (invalid) errors.push({ path, message: invalid });
      };
      check('threshold', input.threshold);
      check('amount', input.amount);
      if (errors.length > 0) {
        throw problems.validation(errors.map((e) => `${e.path}: ${e.message}`).join('; '), errors);
      }
      // Kept in the currency's minor unit, so "10" reads back as "10.00" everywhere it is shown.
      const digits = minorUnits(currency);
      const autoRecharge =
        input.enabled && input.threshold !== undefined && input.amount !== undefined
          ? {
              threshold: new Decimal(input.threshold).toFixed(digits),
              amount: new Decimal(input.amount).toFixed(digits),
            }
          : null;
      await billingPort().setAutoRecharge(customerId, { currency, autoRecharge });
      return c.json({ available: true, credits: await billingPort().credits(customerId) }, 200);
    },
  );
}
