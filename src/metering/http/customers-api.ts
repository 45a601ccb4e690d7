import { createRoute, type OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { jsonBody, ok, pathParam } from '../../http/openapi.ts';
import { problems } from '../../http/problem.ts';
import type { Store } from '../../store/index.ts';
import type { CustomerService } from '../../subscriptions/customers.ts';
import type { Customer } from '../../subscriptions/model.ts';
import type { CustomerSubjectStore } from '../customer-subjects.ts';
import { listCustomersPage, listCustomersRoute } from './customers-list.ts';
import { meteringProblems, openMeterRoute } from './route.ts';
import { CustomerCreateSchema, CustomerSchema } from './schemas.ts';

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
export function mountCustomerRoutes(
  app: OpenAPIHono,
  deps: { store: Store; customers: CustomerService; subjects: CustomerSubjectStore },
): void {
  const { customers, subjects, store } = deps;
  // As OpenMeter's CustomerToAPI (openmeter/customer/httpdriver/apimapping.go), with Tollgate's
  // live subscription as currentSubscriptionId.
  const json = async (customer: Customer) => {
    const [live] = await store.query<{ id: string }>(
      `select id from subscriptions where customer_id = $1 and status <> 'canceled' order by created_at desc limit 1`,
      [customer.id],
    );
    return {
      id: customer.id,
      key: customer.id,
      name: customer.name,
      ...(customer.email ? { primaryEmail: customer.email } : {}),
      currency: customer.currency,
      metadata: customer.metadata,
      usageAttribution: { subjectKeys: await subjects.keysOf(customer.id) },
      ...(live ? { currentSubscriptionId: live.id } : {}),
      createdAt: new Date(customer.createdAt).toISOString(),
      updatedAt: new Date(customer.updatedAt).toISOString(),
      ...(customer.deletedAt ? { deletedAt: new Date(customer.deletedAt).toISOString() } : {}),
    };
  };

  openMeterRoute(app, createCustomer, async (c) => {
    const body = await bodyOf(c);
    // Checked first, so a refused create leaves no customer behind. The key becomes the id, the
    // customer's first subject key: it cannot be another customer's (as OpenMeter's adapter).
    const keys = [...(body.usageAttribution?.subjectKeys ?? []), ...(body.key ? [body.key] : [])];
    if (keys.length > 0) await subjects.assertAvailable(keys, body.key);
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

  openMeterRoute(app, listCustomersRoute, async (c) =>
    c.json(await listCustomersPage(store, new URL(c.req.url), json)),
  );
}
