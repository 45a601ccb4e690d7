import { z } from '@hono/zod-openapi';
import { PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH } from '../password-policy.ts';

/** Request fields several portal resources share. */
export const email = z.email('enter a valid email address').max(254);
/** The rules beyond length (not the e-mail, not common) are checked by the service (password-policy.ts). */
export const password = z
  .string()
  .min(PASSWORD_MIN_LENGTH, `use at least ${PASSWORD_MIN_LENGTH} characters`)
  .max(PASSWORD_MAX_LENGTH, `use at most ${PASSWORD_MAX_LENGTH} characters`);
export const name = z.string().trim().min(1, 'enter a name').max(120);

export const cardSchema = z.strictObject({
  number: z.string().trim().min(12).max(23),
  expiry: z.string().trim().min(4).max(7),
  cvc: z.string().trim().min(3).max(4),
  name: z.string().max(120).optional(),
});

export const creditAmount = z.string('a decimal string such as "25.00"').trim();
export const currencyCode = z.string().regex(/^[A-Z]{3}$/, 'a currency code such as "USD"');

export const pathParam = <K extends string>(key: K) =>
  z.object({
    [key]: z
      .string()
      .min(1)
      .openapi({ param: { name: key, in: 'path' } }),
  } as {
    [P in K]: z.ZodString;
  });

export const jsonBody = <T extends z.ZodType>(schema: T) => ({
  required: true,
  content: { 'application/json': { schema } },
});
