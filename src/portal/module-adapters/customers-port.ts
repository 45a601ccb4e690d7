import type { CustomerService } from '../../subscriptions/index.ts';
import type { CustomersPort } from '../dependencies.ts';
import { iso } from './iso.ts';

/** Customers (organisations) as the portal creates and lists them. */
export function customersPort(customers: CustomerService): CustomersPort {
  return {
    async create(input) {
      const customer = await customers.create({ name: input.name, email: input.email });
      return { id: customer.id, name: customer.name };
    },
    async get(id) {
      const c = await customers.get(id);
      return c ? { id: c.id, name: c.name, email: c.email, createdAt: iso(c.createdAt)! } : null;
    },
    async list() {
      const list = await customers.list({ limit: 500 });
      return list.map((c) => ({ id: c.id, name: c.name, email: c.email, createdAt: iso(c.createdAt)! }));
    },
  };
}
