import { createRoute, z } from '@hono/zod-openapi';
import { ok } from '../../http/openapi.ts';
import { problems } from '../../http/problem.ts';
import type { Store } from '../../store/index.ts';
import type { Customer } from '../../subscriptions/model.ts';
import type { SubscriptionTables } from '../../subscriptions/repo.ts';
import { toCustomer } from '../../subscriptions/repo.ts';
import { meteringProblems } from './route.ts';
import { CustomerListSchema } from './schemas.ts';

/**
 * `GET /api/v1/customers` with OpenMeter's parameters (openmeter/customer/httpdriver/customer.go,
 * ListCustomers; openmeter/customer/adapter/customer.go): `page` (default 1), `pageSize`
 * (default 100, at most 1000), `orderBy` id | name | createdAt (default name), `order` ASC | DESC
 * (default ASC), `includeDeleted`, the filters `key`, `name`, `primaryEmail` and `subject` as
 * case-insensitive partial matches (`containsFilter`), `planKey` as an exact match on the plan of
 * a live subscription, and `expand` (only `subscriptions`, accepted: see docs/openmeter.md).
 */
export const listCustomersRoute = createRoute({
  method: 'get',
  path: '/customers',
  tags: ['Customers'],
  summary: 'List customers',
  description:
    'Ordered by name unless `orderBy` says otherwise; deleted customers only with `includeDeleted`.',
  request: {
    query: z.object({
      page: z.number().int().min(1).optional().openapi({ description: 'Default 1' }),
      pageSize: z.number().int().min(1).max(1000).optional().openapi({ description: 'Default 100' }),
      orderBy: z.enum(['id', 'name', 'createdAt']).optional().openapi({ description: 'Default name' }),
      order: z.enum(['ASC', 'DESC']).optional().openapi({ description: 'Default ASC' }),
      includeDeleted: z.boolean().optional(),
      key: z.string().optional().openapi({ description: 'Case-insensitive partial match' }),
      name: z.string().optional().openapi({ description: 'Case-insensitive partial match' }),
      primaryEmail: z.string().optional().openapi({ description: 'Case-insensitive partial match' }),
      subject: z
        .string()
        .optional()
        .openapi({ description: "Case-insensitive partial match of one of the customer's subject keys" }),
      planKey: z.string().optional().openapi({ description: 'The plan of a live subscription' }),
      expand: z.array(z.enum(['subscriptions'])).optional(),
    }),
  },
  responses: { 200: ok(CustomerListSchema, 'A page of customers'), ...meteringProblems() },
});

const ORDER_BY: Record<string, string> = { id: 'id', name: 'name', createdAt: 'created_at' };

function invalid(path: string, message: string): never {
  throw problems.validation(`Invalid ${path}: ${message}.`, [{ path, message }]);
}

function pagingOf(q: URLSearchParams) {
  const int = (name: string, fallback: number, max: number) => {
    const raw = q.get(name);
    if (raw === null) return fallback;
    const n = Number(raw);
    if (!/^\d+$/.test(raw) || n < 1 || n > max) invalid(name, `must be an integer from 1 to ${max}`);
    return n;
  };
  const orderBy = q.get('orderBy') ?? 'name';
  if (!(orderBy in ORDER_BY)) invalid('orderBy', 'must be id, name or createdAt');
  const order = q.get('order') ?? 'ASC';
  if (order !== 'ASC' && order !== 'DESC') invalid('order', 'must be ASC or DESC');
  const includeDeleted = q.get('includeDeleted') ?? 'false';
  if (includeDeleted !== 'true' && includeDeleted !== 'false')
    invalid('includeDeleted', 'must be true or false');
  for (const e of q.getAll('expand').flatMap((v) => v.split(','))) {
    if (e !== 'subscriptions') invalid('expand', 'must be subscriptions');
  }
  return {
    page: int('page', 1, 1_000_000),
    pageSize: int('pageSize', 100, 1000),
    orderBy: ORDER_BY[orderBy] as string,
    direction: order === 'DESC' ? 'desc' : 'asc',
    includeDeleted: includeDeleted === 'true',
  };
}

/** The SQL condition and parameters of the list's filters. */
function filtersOf(q: URLSearchParams, includeDeleted: boolean) {
  const params: unknown[] = [];
  const where = includeDeleted ? ['true'] : ['deleted_at is null'];
  const add = (sql: string, value: string | null) => {
    if (value === null || value === '') return;
    params.push(value);
    where.push(sql.replaceAll('$?', `$${params.length}`));
  };
  const contains = (column: string) => `position(lower($?) in lower(coalesce(${column}, ''))) > 0`;
  add(contains('id'), q.get('key'));
  add(contains('name'), q.get('name'));
  add(contains('email'), q.get('primaryEmail'));
  add(
    `(${contains('id')} or id in (select customer_id from customer_subject_keys where ${contains('subject_key')}))`,
    q.get('subject'),
  );
  add(
    `id in (select customer_id from subscriptions where plan_key = $? and status <> 'canceled')`,
    q.get('planKey'),
  );
  return { where: where.join(' and '), params };
}

/** A page of customers as OpenMeter lists them: { items, page, pageSize, totalCount }. */
export async function listCustomersPage<T>(
  store: Store,
  url: URL,
  json: (customer: Customer) => Promise<T>,
): Promise<{ items: T[]; page: number; pageSize: number; totalCount: number }> {
  const q = url.searchParams;
  const { page, pageSize, orderBy, direction, includeDeleted } = pagingOf(q);
  const { where, params } = filtersOf(q, includeDeleted);
  const [count] = await store.query<{ n: string | number }>(
    `select count(*) as n from customers where ${where}`,
    params,
  );
  const rows = await store.query<SubscriptionTables['customers']>(
    `select * from customers where ${where}
     order by ${orderBy} ${direction}, id ${direction} limit ${pageSize} offset ${(page - 1) * pageSize}`,
    params,
  );
  const items: T[] = [];
  for (const row of rows) items.push(await json(toCustomer(row)));
  return { items, page, pageSize, totalCount: Number(count?.n ?? 0) };
}
