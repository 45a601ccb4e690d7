import { z } from '@hono/zod-openapi';

/** Path and query parameters the admin routes share. */
export const IdParam = z.object({
  id: z
    .string()
    .min(1)
    .openapi({ param: { name: 'id', in: 'path' } }),
});

export const KeyParam = z.object({
  key: z
    .string()
    .min(1)
    .openapi({ param: { name: 'key', in: 'path' } }),
});

export const Paging = {
  limit: z.coerce
    .number()
    .int()
    .min(1)
    .max(1000)
    .optional()
    .openapi({ description: 'Page size (default 100)' }),
  offset: z.coerce.number().int().min(0).optional(),
};
