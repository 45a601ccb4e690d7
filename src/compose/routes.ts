import type { OpenAPIHono } from '@hono/zod-openapi';
import type { Hono } from 'hono';
import { mountAdminApi } from '../admin/index.ts';
import { billingAdminApi, mountBillingPublicRoutes } from '../billing/index.ts';
import type { BackendStatus } from '../cluster/backends.ts';
import { readiness } from '../cluster/health.ts';
import { createConsoleApp } from '../http/hono.ts';
import { customerSubjectStore, mountMeteringRoutes } from '../metering/index.ts';
import { mountNotifyRoutes, registerWebhookContract, webhookAdminApi } from '../notify/index.ts';
import { createPortal, type Portal, type PortalPorts } from '../portal/index.ts';
import { RedisLoginThrottle } from '../portal/login-throttle-redis.ts';
import {
  billingPort,
  catalogPort,
  customersPort,
  keysPort,
  subscriptionsPort,
} from '../portal/module-adapters/index.ts';
import type { Backends } from './backends.ts';
import type { Modules } from './modules.ts';
import type { StopList } from './stop-list.ts';

/** Phase 3: the console listener's routes (portal, admin, metering, billing, notify, probes). */
export interface Routes {
  readonly consoleApp: Hono;
  /** Where /api/admin/openapi.json's paths are registered: routes mounted later add theirs here. */
  readonly adminRegistry: OpenAPIHono['openAPIRegistry'];
  readonly portal: Portal;
  /** Every backend this process was given, for `/readyz` on the console and the health port. */
  readonly checks: () => Promise<Record<string, BackendStatus>>;
}

export function mountRoutes(
  b: Backends,
  m: Modules,
  gatewayUrl: () => string | null,
  stopping: StopList,
): Routes {
  const { log } = b;
  const config = () => b.config.current();
  const consoleApp = createConsoleApp(log, {
    limits: () => {
      const limits = config().console.limits;
      return { defaultBytes: limits.bodyBytes, routes: limits.bodyBytesByRoute, jsonDepth: limits.jsonDepth };
    },
  });
  const checks = mountProbes(consoleApp, b, m);
  const adminApi = mountModuleRoutes(consoleApp, b, m);
  const portal = mountPortal(consoleApp, b, m, gatewayUrl, stopping);
  // The hard spend cap set in the portal: the gateway answers 402 while it is reached.
  m.access.addCheck((customerId) => portal.checkSpendCap(customerId));

  return { consoleApp, adminRegistry: adminApi.openAPIRegistry, portal, checks };
}

/** /healthz, /readyz and /metrics; returns the readiness checks (the health port uses them too). */
function mountProbes(consoleApp: Hono, b: Backends, m: Modules): Routes['checks'] {
  const { store } = b;
  const checks = async (): Promise<Record<string, BackendStatus>> => {
    await store.query('select 1');
    return { store: { ok: true, kind: store.kind }, ...(await b.scaleOut.health()) };
  };
  consoleApp.get('/healthz', (c) => c.json({ status: 'ok' }));
  consoleApp.get('/readyz', async (c) => {
    const { status, body } = await readiness(checks);
    return c.json({ ...body, store: store.kind }, status === 200 ? 200 : 503);
  });
  consoleApp.get('/metrics', async (c) =>
    c.body(await m.metrics.metrics(), 200, { 'content-type': m.metrics.contentType }),
  );

  return checks;
}

/** Billing, notify and metering routes, and /api/admin with its OpenAPI document. */
function mountModuleRoutes(consoleApp: Hono, b: Backends, m: Modules) {
  const { store, clock, adminToken } = b;
  const billingRoutes = {
    billing: m.billing,
    subscriptions: m.billingSubscriptions,
    adminToken,
    config: b.config.view,
  };
  mountBillingPublicRoutes(consoleApp, billingRoutes);
  mountNotifyRoutes(consoleApp, { mailer: m.mailer, adminToken });
  mountMeteringRoutes(consoleApp, {
    adminToken,
    metering: m.metering,
    customers: { store, service: m.customers, subjects: customerSubjectStore(store, m.customers) },
    now: () => clock.now(),
  });
  // /api/admin (+ /api/admin/openapi.json and the /api/admin/docs reference page).
  const adminApi = mountAdminApi(consoleApp, {
    adminToken,
    catalog: m.catalog,
    customers: m.customers,
    subscriptions: m.subscriptions,
    keys: m.keys,
    balances: m.balances,
    routes: [billingAdminApi(billingRoutes), webhookAdminApi(m.webhooks)],
  });
  // Every event's payload schema, under the document's OpenAPI 3.1 `webhooks`.
  registerWebhookContract(adminApi.openAPIRegistry);

  return adminApi;
}

/** What the portal reads and changes, through the adapters in src/portal/module-adapters/. */
function portalPorts(b: Backends, m: Modules): PortalPorts {
  const { clock } = b;
  const config = () => b.config.current();
  return {
    customers: customersPort(m.customers),
    catalog: catalogPort(m.catalog, config),
    keys: keysPort(m.keys),
    meter: m.metering.reader,
    subscriptions: subscriptionsPort({
      subscriptions: m.subscriptions,
      catalog: m.catalog,
      balances: m.balances,
      clock,
    }),
    billing: billingPort({
      billing: m.billing,
      subscriptions: m.subscriptions,
      customers: m.customers,
      catalog: m.catalog,
      clock,
      config,
    }),
    mail: m.mailer,
    webhooks: m.webhooks,
  };
}

function mountPortal(
  consoleApp: Hono,
  b: Backends,
  m: Modules,
  gatewayUrl: () => string | null,
  stopping: StopList,
): Portal {
  const { store, clock, log, adminToken } = b;
  const config = () => b.config.current();
  // Developer portal: SPA at `/`, `/api/portal/*` (adapters in src/portal/module-adapters/).
  const ports = portalPorts(b, m);
  // Scale-out: login attempts counted in Redis, shared by every console node.
  const servesConsole = b.role === 'all' || b.role === 'console';
  const throttle =
    b.redisUrl === null || !servesConsole
      ? undefined
      : new RedisLoginThrottle({ url: b.redisUrl, prefix: config().scaleOut.redisKeyPrefix, log });
  if (throttle !== undefined) stopping.push(async () => throttle.close());
  const portal = createPortal(consoleApp, {
    config,
    store,
    clock,
    log,
    adminToken,
    ports,
    gatewayUrl,
    throttle,
    mode: b.dev ? 'dev' : 'start',
  });
  return portal;
}
