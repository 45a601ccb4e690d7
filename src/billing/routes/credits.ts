import { createRoute, type OpenAPIHono, z } from '@hono/zod-openapi';
import { jsonBody, ok, pathParam, problemResponses } from '../../http/openapi.ts';
import type { BillingService } from '../service.ts';
import { CreditEntrySchema, CreditSettingsSchema, Currency, creditEntryOut, Money } from './schemas.ts';

/** `/api/admin/credits/{customerId}`: balance and ledger, grants, credits-only and auto-recharge. */
const tags = ['Credits'];
const CustomerParam = pathParam('customerId');

const Grant = z
  .strictObject({
    amount: Money,
    currency: Currency.default('USD'),
    expiresAt: z.iso.datetime().optional(),
    note: z.string().optional(),
  })
  .openapi('CreditGrant');

const SettingsUpdate = z
  .strictObject({
    currency: Currency.default('USD'),
    creditsOnly: z.boolean().optional(),
    autoRecharge: z.strictObject({ threshold: Money, amount: Money }).nullable().optional(),
  })
  .openapi('CreditSettingsUpdate');

const CreditAccount = z
  .object({
    customerId: z.string(),
    currency: z.string(),
    balance: z.string(),
    settings: CreditSettingsSchema,
    ledger: z.array(CreditEntrySchema),
  })
  .openapi('CreditAccount');

export function mountCreditRoutes(app: OpenAPIHono, billing: BillingService): void {
  app.openapi(
    createRoute({
      method: 'get',
      path: '/credits/{customerId}',
      tags,
      summary: "A customer's prepaid credit balance, settings and ledger in one currency",
      request: { params: CustomerParam, query: z.object({ currency: Currency.default('USD') }) },
      responses: { 200: ok(CreditAccount, 'The credit account'), ...problemResponses(400, 401) },
    }),
    async (c) => {
      const { customerId } = c.req.valid('param');
      const { currency } = c.req.valid('query');
      return c.json(
        {
          customerId,
          currency,
          balance: await billing.credits.balance(customerId, currency),
          settings: await billing.credits.settings(customerId, currency),
          ledger: (await billing.credits.ledger(customerId, currency)).map(creditEntryOut),
        },
        200,
      );
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/credits/{customerId}/grants',
      tags,
      summary: 'Grant credits (optionally expiring)',
      request: { params: CustomerParam, body: jsonBody(Grant) },
      responses: { 201: ok(CreditEntrySchema, 'The ledger entry'), ...problemResponses(400, 401, 404) },
    }),
    async (c) => {
      const body = c.req.valid('json');
      const entry = await billing.credits.grant({
        customerId: c.req.valid('param').customerId,
        currency: body.currency,
        amount: body.amount,
        expiresAt: body.expiresAt ? new Date(body.expiresAt) : null,
        note: body.note,
      });
      return c.json(creditEntryOut(entry), 201);
    },
  );

  app.openapi(
    createRoute({
      method: 'put',
      path: '/credits/{customerId}/settings',
      tags,
      summary: 'Credits-only billing and automatic recharge',
      request: { params: CustomerParam, body: jsonBody(SettingsUpdate) },
      responses: { 200: ok(CreditSettingsSchema, 'The settings now'), ...problemResponses(400, 401, 404) },
    }),
    async (c) => {
      const { customerId } = c.req.valid('param');
      const body = c.req.valid('json');
      await billing.credits.configure({ customerId, ...body });
      return c.json(await billing.credits.settings(customerId, body.currency), 200);
    },
  );
}
