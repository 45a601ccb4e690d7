import { createRoute, type OpenAPIHono, z } from '@hono/zod-openapi';
import { jsonBody, ok, problemResponses } from '../../http/openapi.ts';
import {
  type CustomerService,
  customerInputSchema,
  customerPatchSchema,
  type EntitlementBalanceReader,
} from '../../subscriptions/index.ts';
import { BalanceSchema, CustomerSchema, customerOut } from '../schemas.ts';
import { IdParam, Paging } from './params.ts';

/** `/api/admin/customers`: list, create, get, update, delete, and a customer's entitlement balances. */
const tags = ['Customers'];

// Rebuilt with this module's `z`: schemas made before @hono/zod-openapi loaded lack `.openapi()`.
const CustomerCreate = z.strictObject({ ...customerInputSchema.shape }).openapi('CustomerCreate');
const CustomerPatch = z.strictObject({ ...customerPatchSchema.shape }).openapi('CustomerPatch');

export const listCustomersRoute = createRoute({
  method: 'get',
  path: '/customers',
  tags,
  summary: 'List customers',
  request: { query: z.object({ search: z.string().optional(), ...Paging }) },
  responses: {
    200: ok(z.object({ data: z.array(CustomerSchema) }), 'Customers, newest first'),
    ...problemResponses(400, 401),
  },
});

export const createCustomerRoute = createRoute({
  method: 'post',
  path: '/customers',
  tags,
  summary: 'Create a customer',
  request: { body: jsonBody(CustomerCreate) },
  responses: { 201: ok(CustomerSchema, 'Created'), ...problemResponses(400, 401, 409) },
});

export const getCustomerRoute = createRoute({
  method: 'get',
  path: '/customers/{id}',
  tags,
  summary: 'Get a customer',
  request: { params: IdParam },
  responses: { 200: ok(CustomerSchema, 'The customer'), ...problemResponses(401, 404) },
});

export const updateCustomerRoute = createRoute({
  method: 'patch',
  path: '/customers/{id}',
  tags,
  summary: 'Update a customer',
  request: { params: IdParam, body: jsonBody(CustomerPatch) },
  responses: { 200: ok(CustomerSchema, 'Updated'), ...problemResponses(400, 401, 404) },
});

export const deleteCustomerRoute = createRoute({
  method: 'delete',
  path: '/customers/{id}',
  tags,
  summary: 'Delete a customer',
  description: 'Refused (409) while the customer has a subscription that is not canceled.',
  request: { params: IdParam },
  responses: { 200: ok(CustomerSchema, 'Deleted'), ...problemResponses(401, 404, 409) },
});

export const customerEntitlementsRoute = createRoute({
  method: 'get',
  path: '/customers/{id}/entitlements',
  tags,
  summary: 'Entitlement balances',
  description: "Usage in the current usage period against the limit, per feature of the customer's plan.",
  request: { params: IdParam },
  responses: {
    200: ok(
      z.object({
        customerId: z.string(),
        subscriptionId: z.string().nullable(),
        planKey: z.string().nullable(),
        planVersion: z.number().int().nullable(),
        status: z.string().nullable(),
        balances: z.array(BalanceSchema),
      }),
      'Balances',
    ),
    ...problemResponses(401, 404),
  },
});

export function mountCustomerRoutes(
  app: OpenAPIHono,
  customers: CustomerService,
  balances: EntitlementBalanceReader,
): void {
  app.openapi(listCustomersRoute, async (c) => {
    const q = c.req.valid('query');
    return c.json({ data: (await customers.list(q)).map(customerOut) }, 200);
  });
  app.openapi(createCustomerRoute, async (c) =>
    c.json(customerOut(await customers.create(c.req.valid('json'))), 201),
  );
  app.openapi(getCustomerRoute, async (c) =>
    c.json(customerOut(await customers.require(c.req.valid('param').id)), 200),
  );
  app.openapi(updateCustomerRoute, async (c) =>
    c.json(customerOut(await customers.update(c.req.valid('param').id, c.req.valid('json'))), 200),
  );
  app.openapi(deleteCustomerRoute, async (c) =>
    c.json(customerOut(await customers.delete(c.req.valid('param').id)), 200),
  );
  app.openapi(customerEntitlementsRoute, async (c) => c.json(await balances(c.req.valid('param').id), 200));
}
