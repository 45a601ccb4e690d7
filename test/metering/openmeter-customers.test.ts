import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OM_METERS, type OmStack, startOmStack } from './om-stack.ts';

/**
 * OpenMeter's subjects and customers through the official `@openmeter/sdk`. Tollgate's customers
 * are OpenMeter's customers (one store): a customer created here is the customer the admin API
 * and billing see, its id is its key and first subject key, and `usageAttribution.subjectKeys`
 * attribute more subjects to it (mapping.go: filterCustomerId filters and groups by customer_id).
 */
let stack: OmStack;
const at = (iso: string) => new Date(iso);

beforeAll(async () => {
  stack = await startOmStack(OM_METERS, {
    plans: [
      {
        key: 'starter',
        name: 'Starter',
        rateCards: [{ key: 'base', name: 'Starter', price: { type: 'flat', amount: '10.00' } }],
      },
    ],
  });
}, 180_000);

afterAll(async () => {
  await stack?.stop();
});

describe('OpenMeter subjects and customers through the official client', () => {
  it('upserts, lists, gets and deletes subjects', async () => {
    const { om } = stack;
    type Subject = { id: string; key: string; displayName?: string | null; metadata?: unknown };
    const [created] = (await om.subjects.upsert([
      { key: 'sub-a', displayName: 'Team A', metadata: { tier: 'gold' } },
    ])) as unknown as Subject[];
    expect(created).toEqual({
      id: expect.stringMatching(/^sub_/),
      key: 'sub-a',
      displayName: 'Team A',
      metadata: { tier: 'gold' },
      createdAt: expect.any(Date),
      updatedAt: expect.any(Date),
    });
    // A field left out keeps its value; null clears it (subject.go: UpsertSubject).
    const upserted = (await om.subjects.upsert([
      { key: 'sub-a', displayName: 'Team A2' },
      { key: 'sub-b', displayName: 'Team B', metadata: { tier: 'silver' } },
    ])) as unknown as Subject[];
    expect(upserted.map((s) => [s.key, s.displayName, s.metadata])).toEqual([
      ['sub-a', 'Team A2', { tier: 'gold' }],
      ['sub-b', 'Team B', { tier: 'silver' }],
    ]);
    await om.subjects.upsert([{ key: 'sub-b', displayName: null }]);
    const list = async () => (await om.subjects.list()) as unknown as Subject[];
    // Oldest first, as OpenMeter lists by its time-ordered ids.
    expect((await list()).map((s) => [s.key, s.displayName])).toEqual([
      ['sub-a', 'Team A2'],
      ['sub-b', null],
    ]);
    expect(await om.subjects.get(created?.id as string)).toEqual({
      ...created,
      displayName: 'Team A2',
      updatedAt: expect.any(Date),
    });
    expect((await om.subjects.get('sub-a'))?.id).toBe(created?.id);
    await expect(
      om.subjects.upsert([{ key: 'sub-c', stripeCustomerId: 'acct_1' }] as never),
    ).rejects.toMatchObject({ status: 400 });
    await om.subjects.delete('sub-a');
    await expect(om.subjects.get('sub-a')).rejects.toMatchObject({ status: 404 });
    await expect(om.subjects.delete('sub-a')).rejects.toMatchObject({ status: 404 });
    expect((await list()).map((s) => s.key)).toEqual(['sub-b']);
  });

  it("creates customers that are Tollgate's customers, with usage attribution", async () => {
    const { om, tollgate } = stack;
    const created = await om.customers.create({
      key: 'acme',
      name: 'Acme Inc.',
      primaryEmail: 'billing@acme.test',
      currency: 'EUR',
      usageAttribution: { subjectKeys: ['acme-user-1'] },
    } as never);
    expect(created).toEqual({
      id: 'acme',
      key: 'acme',
      name: 'Acme Inc.',
      primaryEmail: 'billing@acme.test',
      currency: 'EUR',
      metadata: {},
      usageAttribution: { subjectKeys: ['acme', 'acme-user-1'] },
      createdAt: expect.any(Date),
      updatedAt: expect.any(Date),
    });
    // A key that is another customer's subject key, or an existing customer's key: 409.
    await expect(om.customers.create({ key: 'acme-user-1', name: 'Clash' } as never)).rejects.toMatchObject({
      status: 409,
    });
    await expect(om.customers.create({ key: 'acme', name: 'Again' } as never)).rejects.toMatchObject({
      status: 409,
    });
    // The same customer, in Tollgate's own customer service.
    expect((await tollgate.customers.get('acme'))?.name).toBe('Acme Inc.');
    await om.customers.create({
      key: 'globex',
      name: 'Globex',
      usageAttribution: { subjectKeys: [] },
    } as never);
    await expect(
      om.customers.create({ name: 'Thief', usageAttribution: { subjectKeys: ['acme-user-1'] } } as never),
    ).rejects.toMatchObject({ status: 409 });

    type Page = { page: number; pageSize: number; totalCount: number; items: { id: string }[] };
    const list = async (query: Record<string, unknown> = {}) =>
      (await om.customers.list(query as never)) as Page;
    const listed = await list({ subject: 'acme-user-1' });
    expect(listed).toMatchObject({ page: 1, pageSize: 100, totalCount: 1 });
    expect(listed.items.map((c) => c.id)).toEqual(['acme']);
    expect((await list({ name: 'glob' })).items.map((c) => c.id)).toEqual(['globex']);

    const updated = await om.customers.update('acme', {
      name: 'Acme Corp.',
      usageAttribution: { subjectKeys: ['acme-user-1', 'acme-user-2'] },
    } as never);
    expect(updated).toEqual({
      ...created,
      name: 'Acme Corp.',
      primaryEmail: undefined,
      currency: 'EUR',
      usageAttribution: { subjectKeys: ['acme', 'acme-user-1', 'acme-user-2'] },
      updatedAt: expect.any(Date),
    });
    expect(await om.customers.get('acme')).toEqual(updated);
  });

  it('filters meter queries and events by customer and groups by customer_id', async () => {
    const { om } = stack;
    await om.events.ingest([
      {
        id: 'c1',
        source: 'c',
        type: 'tokens',
        subject: 'acme',
        time: at('2026-06-01T10:00:00Z'),
        data: { tokens: 5, model: 'a' },
      },
      {
        id: 'c2',
        source: 'c',
        type: 'tokens',
        subject: 'acme-user-1',
        time: at('2026-06-01T10:05:00Z'),
        data: { tokens: 7, model: 'a' },
      },
      {
        id: 'c3',
        source: 'c',
        type: 'tokens',
        subject: 'acme-user-2',
        time: at('2026-06-01T11:00:00Z'),
        data: { tokens: 11, model: 'b' },
      },
      {
        id: 'c4',
        source: 'c',
        type: 'tokens',
        subject: 'globex',
        time: at('2026-06-01T10:00:00Z'),
        data: { tokens: 100, model: 'a' },
      },
      {
        id: 'c5',
        source: 'c',
        type: 'tokens',
        subject: 'nobody',
        time: at('2026-06-01T10:00:00Z'),
        data: { tokens: 1000, model: 'a' },
      },
    ]);
    const total = await om.meters.query('tokens', { filterCustomerId: ['acme'] });
    expect(total.data.map((r) => [r.customerId, r.subject, r.value])).toEqual([['acme', null, 23]]);
    const both = await om.meters.query('tokens', {
      filterCustomerId: ['acme', 'globex'],
      groupBy: ['model'],
      windowSize: 'DAY',
    });
    expect(both.data.map((r) => [r.customerId, r.groupBy.model, r.value])).toEqual([
      ['acme', 'a', 12],
      ['acme', 'b', 11],
      ['globex', 'a', 100],
    ]);
    const models = await om.meters.query('models', { filterCustomerId: ['acme'] });
    expect(models.data.map((r) => [r.customerId, r.value])).toEqual([['acme', 2]]);
    await expect(om.meters.query('tokens', { filterCustomerId: ['nope'] })).rejects.toMatchObject({
      status: 400,
    });

    const events = (await om.events.list({ customerId: ['acme'] } as never)) ?? [];
    expect(events.map((e) => [e.event.id, e.customerId])).toEqual([
      ['c3', 'acme'],
      ['c2', 'acme'],
      ['c1', 'acme'],
    ]);
    expect(events[0]).toEqual({
      event: {
        specversion: '1.0',
        id: 'c3',
        source: 'c',
        type: 'tokens',
        subject: 'acme-user-2',
        time: at('2026-06-01T11:00:00Z'),
        data: { tokens: 11, model: 'b' },
      },
      customerId: 'acme',
      ingestedAt: expect.any(Date),
      storedAt: expect.any(Date),
    });
    // A range that ends before it starts is refused, as OpenMeter's ListEventsParams.Validate.
    for (const bad of [
      { from: at('2026-06-02T00:00:00Z'), to: at('2026-06-01T00:00:00Z') },
      { ingestedAtFrom: at('2026-06-02T00:00:00Z'), ingestedAtTo: at('2026-06-01T00:00:00Z') },
      { limit: 0 },
    ]) {
      await expect(om.events.list(bad as never)).rejects.toMatchObject({ status: 400 });
    }
  });

  it('deletes a customer (soft, as the admin API does)', async () => {
    const { om } = stack;
    await om.customers.delete('globex');
    await expect(om.customers.get('globex')).rejects.toMatchObject({ status: 404 });
    await expect(om.customers.delete('globex')).rejects.toMatchObject({ status: 404 });
    await expect(
      om.customers.update('globex', { name: 'Back', usageAttribution: { subjectKeys: [] } } as never),
    ).rejects.toMatchObject({ status: 404 });
    const page = (await om.customers.list()) as { items: { id: string }[] };
    expect(page.items.map((c) => c.id)).toEqual(['acme']);
  });

  it("lists customers with OpenMeter's parameters: order, partial filters, plan, deleted ones", async () => {
    const { om, tollgate } = stack;
    for (const [key, name, email] of [
      ['zeta', 'Zeta Labs', 'ops@zeta.test'],
      ['beta', 'Beta Corp', 'Billing@Beta.test'],
      ['mu', 'Mu Systems', 'mu@mu.test'],
    ] as const) {
      await om.customers.create({
        key,
        name,
        primaryEmail: email,
        usageAttribution: { subjectKeys: [`${key}-svc`] },
      } as never);
    }
    type Page = { page: number; pageSize: number; totalCount: number; items: { id: string }[] };
    const list = async (query: Record<string, unknown> = {}) =>
      (await om.customers.list(query as never)) as Page;
    const ids = async (query: Record<string, unknown> = {}) => (await list(query)).items.map((c) => c.id);
    // By name, ascending, unless told otherwise (customer.go: CustomerOrderByName, SortOrderASC).
    expect(await ids()).toEqual(['acme', 'beta', 'mu', 'zeta']);
    expect(await ids({ order: 'DESC' })).toEqual(['zeta', 'mu', 'beta', 'acme']);
    expect(await ids({ orderBy: 'createdAt' })).toEqual(['acme', 'zeta', 'beta', 'mu']);
    expect(await ids({ orderBy: 'id', order: 'DESC' })).toEqual(['zeta', 'mu', 'beta', 'acme']);
    const second = await list({ page: 2, pageSize: 3 });
    expect({ ...second, items: second.items.map((c) => c.id) }).toEqual({
      page: 2,
      pageSize: 3,
      totalCount: 4,
      items: ['zeta'],
    });
    // key, name, primaryEmail and subject: case-insensitive partial matches (containsFilter).
    expect(await ids({ key: 'ET' })).toEqual(['beta', 'zeta']);
    expect(await ids({ name: 'corp' })).toEqual(['acme', 'beta']);
    expect(await ids({ primaryEmail: 'billing@beta' })).toEqual(['beta']);
    expect(await ids({ subject: 'MU-S' })).toEqual(['mu']);

    const sub = await tollgate.subscriptions.subscribe({ customerId: 'beta', planKey: 'starter' });
    const onPlan = await list({ planKey: 'starter', expand: ['subscriptions'] });
    expect(onPlan.items).toEqual([await om.customers.get('beta')]);
    expect(onPlan.items[0]).toMatchObject({ currentSubscriptionId: sub.id });
    expect(await ids({ planKey: 'star' })).toEqual([]);

    const deleted = await list({ includeDeleted: true, key: 'globex' });
    expect(deleted.items).toEqual([
      expect.objectContaining({ id: 'globex', name: 'Globex', deletedAt: expect.any(Date) }),
    ]);
    for (const bad of [
      { order: 'UP' },
      { orderBy: 'email' },
      { pageSize: 0 },
      { pageSize: 1001 },
      { page: 0 },
    ]) {
      await expect(list(bad)).rejects.toMatchObject({ status: 400 });
    }
  });
});
