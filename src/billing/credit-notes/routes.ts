import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { requireAdmin } from '../../admin/auth.ts';
import { ProblemSchema } from '../../admin/schemas.ts';
import { PROBLEM_CONTENT_TYPE, problems } from '../../http/problem.ts';
import { validationHook } from '../../http/validation.ts';
import { isMoneyString } from '../../util/money.ts';
import { CREDIT_NOTE_REASONS, type CreditNote } from './model.ts';
import type { CreditNotes } from './service.ts';

/**
 * Credit notes and refunds in the admin API (`/api/admin`, admin token), written with
 * `createRoute` so each is in the admin OpenAPI document: issue a credit note on an open or paid
 * invoice, refund (part of) a paid one, void a credit note of an open invoice, list and read them.
 */
const Money = z
  .string()
  .refine(isMoneyString, 'must be a decimal string such as "10.00"')
  .openapi({ description: 'Decimal string', example: '10.00' });

const CreditNoteSchema = z
  .object({
    id: z.string(),
    number: z.string().openapi({ example: 'CN-000001' }),
    invoiceId: z.string(),
    invoiceNumber: z.string().nullable(),
    customerId: z.string(),
    currency: z.string(),
    status: z.enum(['issued', 'void']),
    type: z.enum(['pre_payment', 'post_payment', 'mixed']).openapi({
      description:
        "Stripe's type: pre_payment took its whole total off an open invoice's amount due, post_payment none (the invoice was paid), mixed part",
    }),
    reason: z.enum(CREDIT_NOTE_REASONS),
    memo: z.string().nullable(),
    subtotal: z.string(),
    tax: z.string(),
    total: z.string(),
    prePaymentAmount: z.string().openapi({ description: "Taken off the invoice's amount due" }),
    postPaymentAmount: z.string().openapi({ description: 'refundAmount + creditAmount + outOfBandAmount' }),
    refundAmount: z.string(),
    creditAmount: z.string(),
    outOfBandAmount: z.string(),
    refund: z
      .object({
        id: z.string(),
        status: z.enum(['pending', 'succeeded', 'failed']),
        railRef: z.string().nullable(),
      })
      .nullable(),
    issuedAt: z.string(),
    voidedAt: z.string().nullable(),
    lines: z.array(
      z.object({
        position: z.number().int(),
        invoiceLinePosition: z.number().int().nullable(),
        description: z.string(),
        quantity: z.string().nullable(),
        amount: z.string(),
      }),
    ),
  })
  .openapi('CreditNote');

const CreditNoteCreate = z
  .strictObject({
    reason: z.enum(CREDIT_NOTE_REASONS),
    memo: z.string().max(500).optional(),
    lines: z
      .array(
        z.strictObject({
          invoiceLine: z
            .number()
            .int()
            .positive()
            .optional()
            .openapi({ description: 'Position of the invoice line credited' }),
          description: z.string().max(200).optional(),
          quantity: Money.optional(),
          amount: Money.openapi({ description: 'Before tax' }),
        }),
      )
      .max(100)
      .optional(),
    amount: Money.optional().openapi({ description: 'The total, tax included, instead of lines' }),
    refundAmount: Money.optional(),
    creditAmount: Money.optional(),
    outOfBandAmount: Money.optional(),
  })
  .openapi('CreditNoteCreate', {
    description:
      'On an open invoice the total first lowers its amount due (not below zero); refundAmount + creditAmount + outOfBandAmount = the rest (all of the total on a paid invoice). Without them: refund what was paid and not refunded, the rest as customer credit.',
  });

const RefundSchema = z
  .object({
    id: z.string(),
    purpose: z.literal('refund'),
    status: z.enum(['pending', 'succeeded', 'failed', 'refunded']),
    amount: z.string(),
    currency: z.string(),
    rail: z.string(),
    rail_ref: z.string().nullable(),
    creditNote: CreditNoteSchema,
  })
  .openapi('Refund');

const problemResponses = (...codes: (400 | 401 | 404 | 409)[]) =>
  Object.fromEntries(
    codes.map((code) => [
      code,
      { description: `Problem ${code}`, content: { [PROBLEM_CONTENT_TYPE]: { schema: ProblemSchema } } },
    ]),
  );
const ok = <T extends z.ZodType>(schema: T, description: string) => ({
  description,
  content: { 'application/json': { schema } },
});
const IdParam = z.object({
  id: z
    .string()
    .min(1)
    .max(100)
    .openapi({ param: { name: 'id', in: 'path' } }),
});

const out = (note: CreditNote) => note;

export function creditNoteRoutes(deps: {
  adminToken: string;
  creditNotes: CreditNotes;
  refund(invoiceId: string, amount?: string): Promise<z.infer<typeof RefundSchema>>;
}): OpenAPIHono {
  const { creditNotes } = deps;
  const app = new OpenAPIHono({ defaultHook: validationHook });
  const admin = requireAdmin(deps.adminToken);
  app.use('/invoices/*', admin);
  app.use('/credit-notes', admin);
  app.use('/credit-notes/*', admin);

  app.openapi(
    createRoute({
      method: 'post',
      path: '/invoices/{id}/credit-notes',
      tags: ['Credit notes'],
      summary: 'Issue a credit note',
      description:
        "On an open (issued) or paid invoice; the invoice's lines are never edited. On an open invoice the total lowers its amount due first (at zero the invoice is paid). Total at most the invoice total minus earlier credit notes; refund at most what was paid and not refunded. 409 while a charge of the invoice is with the rail.",
      request: {
        params: IdParam,
        body: { required: true, content: { 'application/json': { schema: CreditNoteCreate } } },
      },
      responses: { 201: ok(CreditNoteSchema, 'Issued'), ...problemResponses(400, 401, 404, 409) },
    }),
    async (c) => c.json(out(await creditNotes.issue(c.req.valid('param').id, c.req.valid('json'))), 201),
  );
  app.openapi(
    createRoute({
      method: 'post',
      path: '/invoices/{id}/refund',
      tags: ['Credit notes'],
      summary: 'Refund a paid invoice',
      description:
        'Through the rail that collected it, recorded as a credit note of that amount (tax included). Without a body: everything paid and not refunded yet.',
      request: {
        params: IdParam,
        body: {
          required: false,
          content: {
            'application/json': {
              schema: z.strictObject({ amount: Money.optional() }).openapi('RefundCreate'),
            },
          },
        },
      },
      responses: {
        201: ok(RefundSchema, 'The refund and its credit note'),
        ...problemResponses(400, 401, 404, 409),
      },
    }),
    async (c) => {
      const text = await c.req.text();
      let amount: string | undefined;
      if (text.trim()) {
        let body: unknown;
        try {
          body = JSON.parse(text);
        } catch {
          throw problems.badRequest('The body must be JSON: { "amount": "10.00" } (optional).');
        }
        const parsed = z.strictObject({ amount: Money.optional() }).safeParse(body);
        if (!parsed.success) {
          throw problems.validation('Body: { "amount": "10.00" } (optional; default what was paid).', [
            { path: 'amount', message: parsed.error.issues[0]?.message ?? 'invalid' },
          ]);
        }
        amount = parsed.data.amount;
      }
      return c.json(await deps.refund(c.req.valid('param').id, amount), 201);
    },
  );
  app.openapi(
    createRoute({
      method: 'get',
      path: '/invoices/{id}/credit-notes',
      tags: ['Credit notes'],
      summary: "An invoice's credit notes",
      request: { params: IdParam },
      responses: {
        200: ok(z.object({ data: z.array(CreditNoteSchema) }), 'Newest first'),
        ...problemResponses(401),
      },
    }),
    async (c) =>
      c.json({ data: (await creditNotes.list({ invoiceId: c.req.valid('param').id })).map(out) }, 200),
  );
  app.openapi(
    createRoute({
      method: 'get',
      path: '/credit-notes',
      tags: ['Credit notes'],
      summary: 'List credit notes',
      request: {
        query: z.object({
          customerId: z.string().optional(),
          limit: z.coerce.number().int().min(1).max(500).default(100),
          offset: z.coerce.number().int().min(0).default(0),
        }),
      },
      responses: {
        200: ok(z.object({ data: z.array(CreditNoteSchema) }), 'Newest first'),
        ...problemResponses(400, 401),
      },
    }),
    async (c) => c.json({ data: (await creditNotes.list(c.req.valid('query'))).map(out) }, 200),
  );
  app.openapi(
    createRoute({
      method: 'get',
      path: '/credit-notes/{id}',
      tags: ['Credit notes'],
      summary: 'Get a credit note (by id or number)',
      request: { params: IdParam },
      responses: { 200: ok(CreditNoteSchema, 'The credit note'), ...problemResponses(401, 404) },
    }),
    async (c) => c.json(out(await creditNotes.get(c.req.valid('param').id)), 200),
  );
  app.openapi(
    createRoute({
      method: 'post',
      path: '/credit-notes/{id}/void',
      tags: ['Credit notes'],
      summary: 'Void a credit note (by id or number)',
      description:
        "Only a credit note of an open invoice, as Stripe's `POST /v1/credit_notes/{id}/void`: the invoice's amount due goes back up by what the note took off it. 409 for a note already void, one that sent a refund or added customer credit, or one whose invoice is paid.",
      request: { params: IdParam },
      responses: { 200: ok(CreditNoteSchema, 'The voided credit note'), ...problemResponses(401, 404, 409) },
    }),
    async (c) => c.json(out(await creditNotes.void(c.req.valid('param').id)), 200),
  );
  return app;
}
