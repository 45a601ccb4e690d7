import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type OmStack, startOmStack } from './om-stack.ts';

/**
 * Meters created, updated and deleted through the official `@openmeter/sdk`. API meters live
 * next to the config's meters: they count the events already stored when created, are rebuilt
 * when their group-by changes, are deleted softly (`deletedAt`, listed with `includeDeleted`)
 * and keep their slug; the config's meters are read-only through the API (409).
 */
let stack: OmStack;
const at = (iso: string) => new Date(iso);

beforeAll(async () => {
  stack = await startOmStack();
}, 180_000);

afterAll(async () => {
  await stack?.stop();
});

describe('OpenMeter meters API through the official client', () => {
  it('creates a meter that counts stored events, then updates and deletes it', async () => {
    const { om } = stack;
    await om.events.ingest([
      {
        id: 'b1',
        source: 'm',
        type: 'storage',
        subject: 'ma',
        time: at('2026-07-01T10:00:00Z'),
        data: { bytes: 100, region: 'eu', tier: 'hot' },
      },
      {
        id: 'b2',
        source: 'm',
        type: 'storage',
        subject: 'ma',
        time: at('2026-07-01T11:00:00Z'),
        data: { bytes: 50, region: 'us', tier: 'hot' },
      },
    ]);
    const created = await om.meters.create({
      slug: 'storage_bytes',
      name: 'Storage',
      eventType: 'storage',
      aggregation: 'SUM',
      valueProperty: '$.bytes',
      groupBy: { region: '$.region' },
    });
    expect(created).toEqual({
      id: expect.any(String),
      slug: 'storage_bytes',
      name: 'Storage',
      aggregation: 'SUM',
      eventType: 'storage',
      valueProperty: '$.bytes',
      groupBy: { region: '$.region' },
      createdAt: expect.any(Date),
      updatedAt: expect.any(Date),
    });
    expect(await om.meters.get(created?.id as string)).toEqual(created);
    expect(await om.meters.get('storage_bytes')).toEqual(created);
    expect(((await om.meters.list()) ?? []).find((m) => m.slug === 'storage_bytes')).toEqual(created);
    // Backfilled from the stored events, then counting new ones.
    await om.events.ingest([
      {
        id: 'b3',
        source: 'm',
        type: 'storage',
        subject: 'ma',
        time: at('2026-07-01T12:00:00Z'),
        data: { bytes: 7, region: 'eu', tier: 'cold' },
      },
    ]);
    const byRegion = await om.meters.query('storage_bytes', { groupBy: ['region'] });
    expect(byRegion.data.map((r) => [r.groupBy.region, r.value])).toEqual([
      ['eu', 107],
      ['us', 50],
    ]);

    const updated = await om.meters.update('storage_bytes', {
      name: 'Stored bytes',
      groupBy: { region: '$.region', tier: '$.tier' },
    });
    expect(updated).toEqual({
      ...created,
      name: 'Stored bytes',
      groupBy: { region: '$.region', tier: '$.tier' },
      updatedAt: expect.any(Date),
    });
    const byTier = await om.meters.query('storage_bytes', { groupBy: ['tier'] });
    expect(byTier.data.map((r) => [r.groupBy.tier, r.value])).toEqual([
      ['cold', 7],
      ['hot', 150],
    ]);

    await om.meters.delete('storage_bytes');
    await expect(om.meters.get('storage_bytes')).rejects.toMatchObject({ status: 404 });
    expect(((await om.meters.list()) ?? []).map((m) => m.slug)).not.toContain('storage_bytes');
    const all = (
      await om.client.GET('/api/v1/meters', { params: { query: { includeDeleted: true } as never } })
    ).data as { slug: string; deletedAt?: string }[] | undefined;
    const deleted = all?.find((m) => m.slug === 'storage_bytes');
    expect(deleted).toEqual({
      ...updated,
      createdAt: created?.createdAt.toISOString(),
      updatedAt: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T/),
      deletedAt: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T/),
    });
    // Ingest goes on; the deleted meter counts nothing and its slug stays taken.
    await om.events.ingest([{ id: 'b4', source: 'm', type: 'storage', subject: 'ma', data: { bytes: 1 } }]);
    await expect(
      om.meters.create({ slug: 'storage_bytes', eventType: 'storage', aggregation: 'COUNT' }),
    ).rejects.toMatchObject({ status: 409 });
  });

  it('counts negative values on a meter created through the API, as OpenMeter does', async () => {
    const { om } = stack;
    await om.meters.create({
      slug: 'wallet_delta',
      eventType: 'wallet',
      aggregation: 'SUM',
      valueProperty: '$.amount',
    });
    await om.events.ingest([
      {
        id: 'w1',
        source: 'm',
        type: 'wallet',
        subject: 'wa',
        time: at('2026-07-02T10:00:00Z'),
        data: { amount: 10 },
      },
      {
        id: 'w2',
        source: 'm',
        type: 'wallet',
        subject: 'wa',
        time: at('2026-07-02T11:00:00Z'),
        data: { amount: -4 },
      },
      {
        id: 'w3',
        source: 'm',
        type: 'wallet',
        subject: 'wa',
        time: at('2026-07-02T12:00:00Z'),
        data: { amount: '-1.5' },
      },
    ]);
    const result = await om.meters.query('wallet_delta', {});
    expect(result?.data.map((row) => row.value)).toEqual([4.5]);
  });

  it("refuses to change or delete the config's meters, duplicate slugs and invalid definitions", async () => {
    const { om } = stack;
    await expect(om.meters.update('tokens', { name: 'Hijacked' })).rejects.toMatchObject({ status: 409 });
    await expect(om.meters.delete('tokens')).rejects.toMatchObject({ status: 409 });
    expect((await om.meters.get('tokens'))?.name).toBe('AI tokens');
    await expect(
      om.meters.create({ slug: 'tokens', eventType: 'x', aggregation: 'COUNT' }),
    ).rejects.toMatchObject({ status: 409 });
    const invalid = await om.meters
      .create({ slug: 'bad', eventType: 'x', aggregation: 'SUM' })
      .catch((e) => e);
    expect(invalid).toMatchObject({ status: 400 });
    expect(invalid.getField('errors')).toEqual([
      { path: 'valueProperty', message: 'aggregation SUM needs a valueProperty' },
    ]);
    await expect(
      om.meters.create({ slug: 'bad2', eventType: 'x', aggregation: 'MEDIAN' as never }),
    ).rejects.toMatchObject({ status: 400 });
  });

  it("lists meters by slug, or by OpenMeter's other orders", async () => {
    const { om } = stack;
    // The SDK's meters.list takes request options: the query goes in params.query.
    const list = async (query: Record<string, unknown> = {}) =>
      (await om.meters.list({ params: { query } } as never)) ?? [];
    const slugs = async (query: Record<string, unknown> = {}) => (await list(query)).map((m) => m.slug);
    const bySlug = (await slugs()).slice();
    expect(bySlug).toEqual([...bySlug].sort());
    expect(bySlug).toContain('tokens');
    expect(await slugs({ order: 'DESC' })).toEqual([...bySlug].reverse());
    const byAggregation = (await list({ orderBy: 'aggregation' })).map((m) => [m.aggregation, m.slug]);
    expect(byAggregation.slice(0, 3)).toEqual([
      ['AVG', 'tokens_avg'],
      ['COUNT', 'requests'],
      ['COUNT', 'tokens_count'],
    ]);
    // A meter without group-by has none in its answer, as OpenMeter's ToAPIMeter.
    const requests = await om.meters.get('requests');
    expect(requests).toEqual({
      id: expect.any(String),
      slug: 'requests',
      name: 'requests',
      aggregation: 'COUNT',
      eventType: 'request',
      createdAt: expect.any(Date),
      updatedAt: expect.any(Date),
    });
    for (const bad of [{ orderBy: 'slug' }, { order: 'up' }]) {
      await expect(list(bad)).rejects.toMatchObject({ status: 400 });
    }
  });
});
