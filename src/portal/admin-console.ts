import { Hono } from 'hono';
import { requireAdmin } from '../admin/auth.ts';
import type { ResolvedConfig } from '../config/index.ts';
import type { PortalPorts } from './dependencies.ts';
import type { PortalRepo } from './repo.ts';

/**
 * The small admin console's API (`/api/portal/admin/*`, admin bearer token): customers with
 * their subscription, invoices and usage at a glance. Read-only; changes go through the admin
 * API and the CLI.
 */
export function mountAdminConsole(
  app: Hono,
  deps: { adminToken: string; repo: PortalRepo; ports: () => PortalPorts; config: () => ResolvedConfig },
): void {
  const admin = new Hono();
  admin.use('*', requireAdmin(deps.adminToken));

  async function customerIds(): Promise<
    { id: string; name: string; email: string | null; createdAt: string | null }[]
  > {
    const port = deps.ports().customers;
    if (port) return port.list();
    const orgs = await deps.repo.organisations();
    const out = new Map(
      orgs.map((o) => [
        o.id,
        { id: o.id, name: o.name, email: o.email, createdAt: new Date(o.created_at).toISOString() },
      ]),
    );
    for (const u of await deps.repo.allOwners()) {
      if (!out.has(u.customer_id)) {
        out.set(u.customer_id, {
          id: u.customer_id,
          name: u.name,
          email: u.email,
          createdAt: new Date(u.created_at).toISOString(),
        });
      }
    }
    return [...out.values()];
  }

  admin.get('/overview', async (c) => {
    const ports = deps.ports();
    const customers = await customerIds();
    const rows = await Promise.all(
      customers.map(async (customer) => {
        const [subscription, invoices, balances, members] = await Promise.all([
          ports.subscriptions?.current(customer.id).catch(() => null) ?? null,
          ports.billing?.listInvoices(customer.id).catch(() => []) ?? [],
          ports.subscriptions?.balances(customer.id).catch(() => []) ?? [],
          deps.repo.members(customer.id),
        ]);
        return { customer: { ...customer, members: members.length }, subscription, invoices, balances };
      }),
    );
    return c.json({
      services: { subscriptions: Boolean(ports.subscriptions), billing: Boolean(ports.billing) },
      customers: rows,
    });
  });

  app.route('/api/portal/admin', admin);
}
