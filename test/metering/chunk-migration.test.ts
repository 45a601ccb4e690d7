import { afterAll, describe, expect, it } from 'vitest';
import { listEvents } from '../../src/metering/event-list.ts';
import { openMeterRegistry } from '../../src/metering/meters.ts';
import { createMeterReader } from '../../src/metering/reader.ts';
import { createIngestService } from '../../src/metering/service.ts';
import { listMigrations, migrate, openPGliteStore } from '../../src/store/index.ts';
import { ManualClock } from '../../src/util/clock.ts';
import { silentLogger } from '../../src/util/log.ts';
import { meters } from './helpers.ts';

/**
 * An install upgraded from per-row events and values (before migration 0408) keeps every event:
 * they are listed, deduplicated against, and counted by meters, from the chunks they moved to.
 */
describe('moving per-row usage events into chunks (migration 0408)', async () => {
  const store = await openPGliteStore();
  afterAll(() => store.close());

  it('keeps every stored event and value: listing, dedupe, meter queries and rebuilds', async () => {
    await store.exec(
      'create table tollgate_migrations (name text primary key, applied_at timestamptz not null default now())',
    );
    for (const m of listMigrations().filter((m) => m.name < '0408')) {
      await store.exec(
        `begin;\n${m.sql}\n;insert into tollgate_migrations (name) values ('${m.name}');\ncommit;`,
      );
    }
    // 2,500 events as the per-row schema held them, and one meter's values for them.
    await store.exec(`
      insert into usage_events (source, id, type, subject, time, data)
      select 'old', 'evt_' || n, 'tokens', 'cus_' || (n % 3),
             timestamptz '2026-02-01T00:00:00Z' + n * interval '1 second',
             jsonb_build_object('tokens', n, 'model', 'small')
      from generate_series(1, 2500) n;
      insert into metering_meters (id, slug, fingerprint, definition) values ('mtr_old', 'old_meter', 'x', '{}');
      insert into usage_meter_values (meter, time, subject, value, value_text, dims)
      select (select key from metering_meters where slug = 'old_meter'), time, subject, (data->>'tokens')::numeric, null, '{}'
      from usage_events;`);

    const result = await migrate(store);
    expect(result.applied[0]).toBe('0408_metering_event_chunks.sql');

    const [keys] = await store.query<{ n: number }>('select count(*)::int as n from usage_event_keys');
    expect(keys?.n).toBe(2500);
    const [chunks] = await store.query<{ n: number }>('select count(*)::int as n from usage_event_chunks');
    expect(chunks?.n).toBe(3);
    const [values] = await store.query<{ n: number; total: string }>(
      'select count(*)::int as n, sum(value)::text as total from usage_meter_values',
    );
    expect(values).toEqual({ n: 2500, total: String((2500 * 2501) / 2) });

    const newest = await listEvents(store, { limit: 2 });
    expect(newest.map((e) => [e.id, e.time.toISOString(), e.data])).toEqual([
      ['evt_2500', '2026-02-01T00:41:40.000Z', { tokens: 2500, model: 'small' }],
      ['evt_2499', '2026-02-01T00:41:39.000Z', { tokens: 2499, model: 'small' }],
    ]);

    // A meter created now is built from the moved events; replaying one of them counts nothing.
    const registry = await openMeterRegistry(
      store,
      meters([{ slug: 'tokens', eventType: 'tokens', aggregation: 'SUM', valueProperty: '$.tokens' }]),
      silentLogger,
    );
    const clock = new ManualClock('2026-03-01T00:00:00Z');
    const ingest = createIngestService({ store, meters: registry, clock, log: silentLogger });
    const replay = {
      specversion: '1.0' as const,
      id: 'evt_7',
      source: 'old',
      type: 'tokens',
      subject: 'cus_1',
      time: '2026-02-01T00:00:07Z',
      data: { tokens: 7, model: 'small' },
    };
    expect((await ingest.write([replay])).inserted).toBe(0);
    const reader = createMeterReader({ store, meters: registry, clock });
    // Unaligned edges read raw values from the chunks; the middle reads rollups.
    const sum = await reader.query({
      meterSlug: 'tokens',
      from: new Date('2026-02-01T00:00:10.500Z'),
      to: new Date('2026-02-01T00:40:00.250Z'),
    });
    // Events 11 … 2400 (time n seconds after midnight).
    expect(sum.data.map((r) => r.value)).toEqual([((11 + 2400) * 2390) / 2]);
  });
});
