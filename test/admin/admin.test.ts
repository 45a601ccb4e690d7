import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTollgate, type Tollgate } from '../../src/app.ts';
import { createLogger } from '../../src/util/log.ts';
import { catalogConfig } from '../entitlements/fixtures.ts';
import { tempDataDir } from '../support/tollgate.ts';

const TOKEN = 'admin-token-for-tests-0123456789';
let tollgate: Tollgate;

beforeAll(async () => {
  const config = catalogConfig();
  config.admin.token = TOKEN;
  tollgate = await startTollgate({
    config,
    database: ':memory:',
    dataDir: tempDataDir('admin-test'),
    role: 'console',
    consolePort: 0,
    log: createLogger({ level: 'silent' }),
  });
});
afterAll(async () => tollgate?.stop());

const call = (method: string, path: string, body?: unknown, token: string | null = TOKEN) =>
  tollgate.consoleApp.request(`/api/admin${path}`, {
    method,
    headers: {
      ...(token && { authorization: `Bearer ${token}` }),
      ...(body !== undefined && { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });

// biome-ignore lint/suspicious/noExplicitAny: test reads arbitrary JSON bodies.
const json = async (res: Response) => (await res.json()) as Record<string, any>;

describe('admin API', () => {
  it('requires the admin token, answering 401 problem+json', async () => {
    for (const token of [null, 'wrong-token']) {
      const res = await call('GET', '/customers', undefined, token);
      expect(res.status).toBe(401);
      expect(res.headers.get('content-type')).toBe('application/problem+json');
      expect((await json(res)).type).toBe('https://tollgate.dev/problems/unauthorized');
    }
  });

  it('serves its OpenAPI document and a reference page', async () => {
    const doc = await json(await call('GET', '/openapi.json', undefined, null));
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining([
        '/customers',
        '/customers/{id}',
        '/subscriptions/{id}/change',
        '/keys',
        '/plans',
      ]),
    );
    const page = await call('GET', '/docs', undefined, null);
    expect(page.headers.get('content-type')).toContain('text/html');
    expect(await page.text()).toContain('/api/admin/openapi.json');
  });

  it('customers: create, read, update, list, delete', async () => {
    const created = await call('POST', '/customers', {
      name: 'Acme',
      email: 'ops@acme.test',
      metadata: { tier: 'gold' },
    });
    expect(created.status).toBe(201);
    const customer = await json(created);
    expect(customer).toMatchObject({
      name: 'Acme',
      email: 'ops@acme.test',
      currency: 'USD',
      metadata: { tier: 'gold' },
    });

    expect(await json(await call('GET', `/customers/${customer.id}`))).toMatchObject({ id: customer.id });
    const patched = await json(await call('PATCH', `/customers/${customer.id}`, { name: 'Acme Inc' }));
    expect(patched.name).toBe('Acme Inc');
    const list = await json(await call('GET', '/customers?search=acme'));
    expect(list.data.map((c: { id: string }) => c.id)).toContain(customer.id);

    expect((await call('DELETE', `/customers/${customer.id}`)).status).toBe(200);
    const gone = await call('GET', `/customers/${customer.id}`);
    expect(gone.status).toBe(404);
    expect(gone.headers.get('content-type')).toBe('application/problem+json');
  });

  it('validation errors are 400 problems naming the field, and change nothing', async () => {
    const before = (await json(await call('GET', '/customers'))).data.length;
    const res = await call('POST', '/customers', { name: 'X', email: 'not-an-email', currency: 'usd' });
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    const problem = await json(res);
    expect(problem.type).toBe('https://tollgate.dev/problems/validation-failed');
    expect(problem.errors.map((e: { path: string }) => e.path).sort()).toEqual(['currency', 'email']);
    expect((await json(await call('GET', '/customers'))).data.length).toBe(before);

    const malformed = await call('POST', '/customers', '{"name": ');
    expect(malformed.status).toBe(400);
    expect(malformed.headers.get('content-type')).toBe('application/problem+json');

    const unknownField = await call('POST', '/customers', { name: 'Y', colour: 'red' });
    expect(unknownField.status).toBe(400);

    const badLimit = await call('GET', '/customers?limit=0');
    expect(badLimit.status).toBe(400);
    expect((await json(badLimit)).errors[0].path).toBe('limit');
  });

  it('subscriptions: subscribe, change plan, overrides, cancel, resume; keys and balances', async () => {
    const customer = await json(await call('POST', '/customers', { name: 'Globex' }));
    const created = await call('POST', '/subscriptions', { customerId: customer.id, plan: 'free' });
    expect(created.status).toBe(201);
    const sub = await json(created);
    expect(sub).toMatchObject({
      plan: { key: 'free', version: 1 },
      status: 'active',
      cancelAtPeriodEnd: false,
    });

    const unknownPlan = await call('POST', `/subscriptions/${sub.id}/change`, { plan: 'platinum' });
    expect(unknownPlan.status).toBe(400);

    const key = await json(await call('POST', '/keys', { customerId: customer.id, name: 'ci' }));
    expect(key.secret).toMatch(/^tg_/);
    expect(key.key.subscriptionId).toBe(sub.id);
    const keys = await json(await call('GET', `/keys?customerId=${customer.id}`));
    expect(keys.data).toHaveLength(1);
    expect(JSON.stringify(keys)).not.toContain(key.secret);

    let balances = await json(await call('GET', `/customers/${customer.id}/entitlements`));
    expect(balances.balances).toEqual([
      expect.objectContaining({ featureKey: 'api_requests', limit: 1000, softLimit: false, type: 'metered' }),
    ]);

    const upgraded = await json(await call('POST', `/subscriptions/${sub.id}/change`, { plan: 'pro' }));
    expect(upgraded.plan.key).toBe('pro');
    balances = await json(await call('GET', `/customers/${customer.id}/entitlements`));
    expect(balances.balances.map((b: { featureKey: string }) => b.featureKey).sort()).toEqual([
      'api_requests',
      'chat',
    ]);

    const scheduled = await json(
      await call('POST', `/subscriptions/${sub.id}/change`, { plan: 'free', timing: 'period_end' }),
    );
    expect(scheduled.pendingChange.plan.key).toBe('free');
    expect(
      (await json(await call('DELETE', `/subscriptions/${sub.id}/pending-change`))).pendingChange,
    ).toBeNull();

    const withOverrides = await call('PUT', `/subscriptions/${sub.id}/overrides`, {
      rateCards: { requests: { limit: 123 } },
    });
    expect(withOverrides.status).toBe(200);
    balances = await json(await call('GET', `/customers/${customer.id}/entitlements`));
    expect(balances.balances.find((b: { featureKey: string }) => b.featureKey === 'api_requests').limit).toBe(
      123,
    );
    const badOverrides = await call('PUT', `/subscriptions/${sub.id}/overrides`, {
      rateCards: { requests: { limit: 'lots' } },
    });
    expect(badOverrides.status).toBe(400);
    expect((await json(badOverrides)).errors[0].path).toBe('rateCards.requests.limit');

    const segments = await json(await call('GET', `/subscriptions/${sub.id}/segments`));
    expect(segments.data.map((s: { plan: { key: string } }) => s.plan.key)).toEqual(['free', 'pro', 'pro']);

    expect((await json(await call('POST', `/subscriptions/${sub.id}/suspend`))).status).toBe('suspended');
    expect((await json(await call('POST', `/subscriptions/${sub.id}/reactivate`))).status).toBe('active');

    const scheduledCancel = await json(await call('POST', `/subscriptions/${sub.id}/cancel`));
    expect(scheduledCancel.cancelAtPeriodEnd).toBe(true);
    expect((await json(await call('POST', `/subscriptions/${sub.id}/resume`))).cancelAtPeriodEnd).toBe(false);
    const canceled = await json(await call('POST', `/subscriptions/${sub.id}/cancel`, { timing: 'now' }));
    expect(canceled.status).toBe('canceled');
    const again = await call('POST', `/subscriptions/${sub.id}/resume`);
    expect(again.status).toBe(409);
    expect(again.headers.get('content-type')).toBe('application/problem+json');

    const revoked = await json(await call('POST', `/keys/${key.key.id}/revoke`));
    expect(revoked.status).toBe('revoked');
  });

  it('plans and versions are readable', async () => {
    const plans = await json(await call('GET', '/plans'));
    expect(plans.data.map((p: { key: string }) => p.key)).toEqual([
      'free',
      'pro',
      'growth',
      'ai',
      'enterprise',
    ]);
    const version = await json(await call('GET', '/plans/ai/versions/1'));
    expect(version.definition.phases[0]).toMatchObject({ key: 'trial', duration: 'P14D', trial: true });
    expect((await call('GET', '/plans/ai/versions/9')).status).toBe(404);
    expect((await call('GET', '/plans/nope/versions')).status).toBe(404);
    const features = await json(await call('GET', '/features'));
    expect(features.data.map((f: { key: string }) => f.key)).toContain('api_requests');
  });
});
