import { createRoute, type OpenAPIHono, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { jsonBody, ok, pathParam } from '../../http/openapi.ts';
import { problems } from '../../http/problem.ts';
import type { Store } from '../../store/index.ts';
import type { CustomerService } from '../../subscriptions/customers.ts';
import type { Customer } from '../../subscriptions/model.ts';
import type { CustomerSubjectStore } from '../customer-subjects.ts';
import { meteringProblems, openMeterRoute } from './route.ts';
import { CustomerCreateSchema, CustomerListSchema, CustomerSchema } from './schemas.ts';

/**
 * OpenMeter's customers API (`/api/v1/customers`) over Tollgate's own customers: the same rows
 * the admin API, the portal and billing use, nothing synced. OpenMeter's `key` is Tollgate's
 * customer id (a create with a key uses it as the id), and `usageAttribution.subjectKeys` are the
 * customer's subject keys: its id first (what the gateway meters under), then any others.
 */
async function bodyOf(c: Context) {
  let raw: unknown;
  try {
    raw = await c.req.json();
  } catch {
    throw problems.badRequest('The body is not valid JSON.');
  }
  const parsed = CustomerCreateSchema.safeParse(raw);
  if (!parsed.success) {
    const errors = parsed.error.issues.map((i) => ({
      path: i.path.join('.') || '(body)',
      message: i.message,
    }));
    throw problems.validation(`Invalid customer: ${errors[0]?.path}: ${errors[0]?.message}`, errors);
  }
  return parsed.data;
}

const CustomerParam = pathParam('idOrKey');
const tags = ['Customers'];

const createCustomer = createRoute({
  method: 'post',
  path: '/customers',
  tags,
  summary: 'Create a customer',
  request: { body: jsonBody(CustomerCreateSchema) },
  responses: { 201: ok(CustomerSchema, 'Created'), ...meteringProblems(409) },
});
const getCustomer = createRoute({
  method: 'get',
  path: '/customers/{idOrKey}',
  tags,
  summary: 'Get a customer',
  request: { params: CustomerParam },
  responses: { 200: ok(CustomerSchema, 'The customer'), ...meteringProblems(404) },
});
const updateCustomer = createRoute({
  method: 'put',
  path: '/customers/{idOrKey}',
  tags,
  summary: 'Replace a customer',
  request: { params: CustomerParam, body: jsonBody(CustomerCreateSchema) },
  responses: { 200: ok(CustomerSchema, 'Updated'), ...meteringProblems(404, 409) },
});
const deleteCustomer = createRoute({
  method: 'delete',
  path: '/customers/{idOrKey}',
  tags,
  summary: 'Delete a customer',
  request: { params: CustomerParam },
  responses: { 204: { description: 'Deleted' }, ...meteringProblems(404, 409) },
});
const listCustomers = createRoute({
  method: 'get',
  path: '/customers',
  tags,
  summary: 'List customers',
  description: 'Oldest first; deleted customers are not listed.',
  request: {
    query: z.object({
      page: z.number().int().min(1).optional(),
      pageSize: z.number().int().min(1).max(1000).optional().openapi({ description: 'Default 100' }),
      key: z.string().optional(),
      name: z.string().optional().openapi({ description: 'Case-insensitive substring' }),
      primaryEmail: z.string().optional(),
      subject: z.string().optional().openapi({ description: 'The customer that owns this subject key' }),
    }),
  },
  responses: { 200: ok(CustomerListSchema, 'A page of customers'), ...meteringProblems() },
});

export function mountCustomerRoutes(
  app: OpenAPIHono,
  deps: { store: Store; customers: CustomerService; subjects: CustomerSubjectStore },
): void {
  const { customers, subjects, store } = deps;
  const json = async (customer: Customer) => ({
    id: customer.id,
    key: customer.id,
    name: customer.name,
    ...(customer.email ? { primaryEmail: customer.email } : {}),
    currency: customer.currency,
    metadata: customer.metadata,
    usageAttribution: { subjectKeys: await subjects.keysOf(customer.id) },
    createdAt: customer.createdAt.toISOString(),
    updatedAt: customer.updatedAt.toISOString(),
    ...(customer.deletedAt ? { deletedAt: customer.deletedAt.toISOString() } : {}),
  });

  openMeterRoute(app, createCustomer, async (c) => {
    const body = await bodyOf(c);
    // Checked first, so a refused create leaves no customer behind.
    if (body.usageAttribution) await subjects.assertAvailable(body.usageAttribution.subjectKeys, body.key);
    const customer = await customers.create({
      ...(body.key ? { id: body.key } : {}),
      name: body.name,
      email: body.primaryEmail ?? null,
      ...(body.currency ? { currency: body.currency } : {}),
      metadata: body.metadata ?? {},
    });
    if (body.usageAttribution) await subjects.setKeys(customer.id, body.usageAttribution.subjectKeys);
    return c.json(await json(customer), 201);
  });

  openMeterRoute(app, getCustomer, async (c) =>
    c.json(await json(await customers.require(c.req.param('idOrKey') ?? ''))),
  );

  openMeterRoute(app, updateCustomer, async (c) => {
    const id = c.req.param('idOrKey') ?? '';
    const body = await bodyOf(c);
    await subjects.assertAvailable(body.usageAttribution?.subjectKeys ?? [], id);
    const customer = await customers.update(id, {
      name: body.name,
      email: body.primaryEmail ?? null,
      ...(body.currency ? { currency: body.currency } : {}),
      metadata: body.metadata ?? {},
    });
    await subjects.setKeys(customer.id, body.usageAttribution?.subjectKeys ?? []);
    return c.json(await json(customer));
  });

  openMeterRoute(app, deleteCustomer, async (c) => {
    await customers.delete(c.req.param('idOrKey') ?? '');
    return c.body(null, 204);
  });

  // Paginated as OpenMeter's list: { items, page, pageSize, totalCount }; filters by key, name
  // (substring), primaryEmail and subject (the customer that owns the subject key). Deleted
  // customers are not listed (includeDeleted is not served: docs/openmeter.md).
  openMeterRoute(app, listCustomers, async (c) => {
    const q = new URL(c.req.url).searchParams;
    const page = Number(q.get('page') ?? 1);
    const pageSize = Number(q.get('pageSize') ?? 100);
    if (
      !Number.isInteger(page) ||
      page < 1 ||
      !Number.isInteger(pageSize) ||
      pageSize < 1 ||
      pageSize > 1000
    ) {
      throw problems.validation('Invalid page or pageSize.', [
        { path: 'page', message: 'page ≥ 1 and pageSize from 1 to 1000' },
      ]);
    }
    const params: unknown[] = [];
    const where = ['deleted_at is null'];
    const add = (sql: string, value: unknown) => {
      params.push(value);
      where.push(sql.replaceAll('$?', `$${params.length}`));
    };
    if (q.get('key')) add('id = $?', q.get('key'));
    if (q.get('name')) add(`lower(name) like '%' || lower($?) || '%'`, q.get('name'));
    if (q.get('primaryEmail')) add('lower(email) = lower($?)', q.get('primaryEmail'));
    if (q.get('subject')) {
      add(
        '(id = $? or id in (select customer_id from customer_subject_keys where subject_key = $?))',
        q.get('subject'),
      );
    }
    const [count] = await store.query<{ n: string | number }>(
      `select count(*) as n from customers where ${where.join(' and ')}`,
      params,
    );
    const ids = await store.query<{ id: string }>(
      `select id from customers where ${where.join(' and ')} order by created_at, id limit ${pageSize} offset ${(page - 1) * pageSize}`,
      params,
    );
    const items = [];
    for (const { id } of ids) {
      const customer = await customers.get(id);
      if (customer) items.push(await json(customer));
    }
    return c.json({ items, page, pageSize, totalCount: Number(count?.n ?? 0) });
  });
}
