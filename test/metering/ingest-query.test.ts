import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listEvents } from '../../src/metering/event-list.ts';
import { openMeterRegistry } from '../../src/metering/meters.ts';
import { createMeterReader, planSegments } from '../../src/metering/reader.ts';
import { createIngestService } from '../../src/metering/service.ts';
import { migrate, openPGliteStore, type Store } from '../../src/store/index.ts';
import { ManualClock } from '../../src/util/clock.ts';
import { silentLogger } from '../../src/util/log.ts';
import { openTestPostgres } from '../support/postgres.ts';
import { meters, requestEvent, testMeters, tokenEvent } from './helpers.ts';

const clock = new ManualClock('2026-03-01T00:00:00Z');

/** The same behaviour on the embedded store and on PostgreSQL (when one is reachable). */
const postgresReachable = await openTestPostgres()
  .then(async ({ drop }) => {
    await drop();
    return true;
  })
  .catch(() => false);

const backends: [string, () => Promise<{ store: Store; close: () => Promise<void> }>][] = [
  [
    'PGlite',
    async () => {
      const store = await openPGliteStore();
      return { store, close: () => store.close() };
    },
  ],
];
if (postgresReachable) {
  backends.push([
    'PostgreSQL',
    async () => {
      const { store, drop } = await openTestPostgres();
      return { store, close: drop };
    },
  ]);
}

describe.each(backends)('metering on %s', (_name, open) => {
  let store: Store;
  let close: () => Promise<void>;

  beforeAll(async () => {
    ({ store, close } = await open());
    await migrate(store);
  });
  afterAll(async () => {
    await close();
  });

  async function setup(list = testMeters) {
    // Each test works in its own subject space so they can share one store.
    const registry = await openMeterRegistry(store, list, silentLogger);
    return {
      registry,
      ingest: createIngestService({ store, meters: registry, clock, log: silentLogger }),
      reader: createMeterReader({ store, meters: registry, clock }),
    };
  }

  describe('ingest', () => {
    it('counts a replayed batch once (dedupe on source + id)', async () => {
      const { ingest, reader } = await setup();
      const batch = [
        tokenEvent('2026-01-01T10:00:05Z', 10, { subject: 'dedupe' }),
        tokenEvent('2026-01-01T10:00:06Z', 20, { subject: 'dedupe' }),
        tokenEvent('2026-01-01T10:00:06Z', 20, { subject: 'dedupe' }),
      ];
      batch[2] = { ...(batch[1] as (typeof batch)[1]) }; // same (source, id) twice in one batch
      expect((await ingest.write(batch)).inserted).toBe(2);
      expect((await ingest.write(batch)).inserted).toBe(0);
      const other = { ...(batch[0] as (typeof batch)[0]), source: 'elsewhere' }; // same id, other source
      expect((await ingest.write([other])).inserted).toBe(1);
      const result = await reader.query({ meterSlug: 'tokens', subject: ['dedupe'] });
      expect(result.data.map((r) => r.value)).toEqual([40]);
    });

    it('counts only the new events of a batch that repeats some stored ones', async () => {
      const { ingest, reader } = await setup();
      const a = tokenEvent('2026-01-01T10:10:00Z', 5, { subject: 'partial' });
      const b = tokenEvent('2026-01-01T10:10:01Z', 6, { subject: 'partial' });
      const c = tokenEvent('2026-01-01T10:10:02Z', 7, { subject: 'partial' });
      expect((await ingest.write([a, b])).inserted).toBe(2);
      expect((await ingest.write([b, c])).inserted).toBe(1);
      expect((await ingest.write([a, b, c])).inserted).toBe(0);
      const d = tokenEvent('2026-01-01T10:10:03Z', 8, { subject: 'partial' });
      expect((await ingest.write([d])).inserted).toBe(1); // after a replay, new batches count again
      const result = await reader.query({ meterSlug: 'tokens', subject: ['partial'] });
      expect(result.data.map((r) => r.value)).toEqual([26]);
    });

    it("never moves a consumer's checkpoint past one of its batches that failed", async () => {
      const { ingest, reader } = await setup();
      const bad = tokenEvent('2026-01-01T12:10:00Z', 5, { subject: 'behind', model: 'bad\u0000model' });
      const after = tokenEvent('2026-01-01T12:10:01Z', 6, { subject: 'behind' });
      const unrelated = tokenEvent('2026-01-01T12:10:02Z', 7, { subject: 'behind' });
      const checkpoint = (position: string) => ({ checkpoint: { consumer: 'test-behind', position } });
      const [first, second, third] = await Promise.allSettled([
        ingest.write([bad], checkpoint('1')),
        ingest.write([after], checkpoint('2')),
        ingest.write([unrelated]),
      ]);
      expect(first.status).toBe('rejected');
      expect(second.status).toBe('rejected'); // it would have saved position 2 past the lost batch
      expect(third).toEqual({ status: 'fulfilled', value: { inserted: 1 } });
      const saved = await store.query(
        "select position from usage_consumer_checkpoints where consumer = 'test-behind'",
      );
      expect(saved).toEqual([]);
      const result = await reader.query({ meterSlug: 'tokens', subject: ['behind'] });
      expect(result.data.map((r) => r.value)).toEqual([7]);
    });

    it('lists stored events newest first across many chunks, filtered by subject, id and time', async () => {
      const { ingest } = await setup();
      const base = Date.parse('2026-01-03T00:00:00Z');
      const events = Array.from({ length: 2_600 }, (_, i) =>
        tokenEvent(new Date(base + i * 1_000).toISOString(), 1, {
          subject: i % 2 ? 'list-odd' : 'list-even',
          id: `list_${String(i).padStart(5, '0')}`,
        }),
      );
      // Written out of time order, in three batches: chunks overlap in time.
      await ingest.write(events.filter((_, i) => i % 3 === 0).reverse());
      await ingest.write(events.filter((_, i) => i % 3 === 1));
      await ingest.write(events.filter((_, i) => i % 3 === 2));
      const list = (filter: Parameters<typeof listEvents>[1]) =>
        listEvents(store, filter).then((rows) => rows.map((r) => r.id));
      const from = new Date(base);
      const to = new Date(base + 2_600_000);
      expect(await list({ from, to, limit: 4 })).toEqual([
        'list_02599',
        'list_02598',
        'list_02597',
        'list_02596',
      ]);
      expect(await list({ from, to, subject: 'list-even', limit: 3 })).toEqual([
        'list_02598',
        'list_02596',
        'list_02594',
      ]);
      expect(await list({ from, to: new Date(base + 1_500_000), limit: 2 })).toEqual([
        'list_01499',
        'list_01498',
      ]);
      expect(await list({ from, to, id: 'list_0000', limit: 100 })).toEqual(
        Array.from({ length: 10 }, (_, i) => `list_0000${9 - i}`),
      );
    });

    it('commits concurrent writes together, telling each write its own new events', async () => {
      const { ingest, reader } = await setup();
      const a = tokenEvent('2026-01-01T11:00:05Z', 10, { subject: 'group' });
      const b = tokenEvent('2026-01-01T11:00:06Z', 20, { subject: 'group' });
      const c = tokenEvent('2026-01-01T11:00:07Z', 30, { subject: 'group' });
      const d = tokenEvent('2026-01-01T11:30:00Z', 40, { subject: 'group' });
      const counts = await Promise.all([
        ingest.write([a, b]),
        ingest.write([b, c]), // b is the first write's
        ingest.write([a, c, d]), // a and c came before
      ]);
      expect(counts.map((r) => r.inserted)).toEqual([2, 1, 1]);
      const result = await reader.query({ meterSlug: 'tokens', subject: ['group'], windowSize: 'HOUR' });
      expect(result.data.map((r) => r.value)).toEqual([100]);
    });

    it('a write the database refuses fails alone, the writes committed with it are kept', async () => {
      const { ingest, reader } = await setup();
      const good = tokenEvent('2026-01-01T12:00:05Z', 7, { subject: 'alone' });
      // jsonb cannot hold a NUL character: the database refuses this event.
      const bad = tokenEvent('2026-01-01T12:00:06Z', 5, { subject: 'alone', model: 'bad\u0000model' });
      const other = tokenEvent('2026-01-01T12:00:07Z', 9, { subject: 'alone' });
      const [first, second, third] = await Promise.allSettled([
        ingest.write([good]),
        ingest.write([bad]),
        ingest.write([other]),
      ]);
      expect(first).toEqual({ status: 'fulfilled', value: { inserted: 1 } });
      expect(second?.status).toBe('rejected');
      expect(third).toEqual({ status: 'fulfilled', value: { inserted: 1 } });
      const result = await reader.query({ meterSlug: 'tokens', subject: ['alone'] });
      expect(result.data.map((r) => r.value)).toEqual([16]);
    });

    it('refuses a batch with an event that does not fit its meter, storing nothing (strict)', async () => {
      const { ingest, reader } = await setup();
      const batch = [
        tokenEvent('2026-01-01T10:00:05Z', 10, { subject: 'strict' }),
        tokenEvent('2026-01-01T10:00:06Z', 'lots', { subject: 'strict' }),
      ];
      await expect(ingest.write(batch, { strict: 'all' })).rejects.toMatchObject({
        status: 400,
        extensions: { errors: [{ path: '[1].data.tokens', message: expect.stringContaining('number') }] },
      });
      expect((await reader.query({ meterSlug: 'tokens', subject: ['strict'] })).data).toEqual([]);
      // Numeric strings are numbers, as in OpenMeter.
      await ingest.write([tokenEvent('2026-01-01T10:00:07Z', '2.5', { subject: 'strict' })], {
        strict: 'all',
      });
      expect((await reader.query({ meterSlug: 'tokens', subject: ['strict'] })).data[0]?.value).toBe(2.5);
    });

    it('drops malformed events from a log batch (logged) instead of failing the batch', async () => {
      const { ingest, reader } = await setup();
      const good = tokenEvent('2026-01-01T10:00:05Z', 3, { subject: 'lenient' });
      const bad = { ...tokenEvent('2026-01-01T10:00:06Z', 4), subject: undefined as unknown as string };
      expect((await ingest.write([good, bad])).inserted).toBe(1);
      expect((await reader.query({ meterSlug: 'tokens', subject: ['lenient'] })).data[0]?.value).toBe(3);
    });

    it('fails only the write whose events cannot be serialised (a million levels deep), and goes on', async () => {
      const { ingest, reader } = await setup();
      let deep: Record<string, unknown> = {};
      const data = { tokens: 1, model: 'm', nested: deep };
      for (let i = 0; i < 1_000_000; i++) {
        const next = {};
        deep.a = next;
        deep = next;
      }
      const bad = { ...tokenEvent('2026-01-01T10:00:06Z', 1, { subject: 'deep' }), data };
      const good = tokenEvent('2026-01-01T10:00:07Z', 5, { subject: 'deep' });
      // Written together, as the usage log consumer's writes are grouped.
      const [first, second] = await Promise.allSettled([ingest.write([bad]), ingest.write([good])]);
      expect(first?.status).toBe('rejected');
      expect(second).toEqual({ status: 'fulfilled', value: { inserted: 1 } });
      expect((await reader.query({ meterSlug: 'tokens', subject: ['deep'] })).data[0]?.value).toBe(5);
    });

    it('validates CloudEvents and names the index and field of each problem', async () => {
      const { ingest } = await setup();
      try {
        ingest.parse([
          { specversion: '1.0', id: 'a', source: 's', type: 'tokens', subject: 'x', data: {} },
          { specversion: '1.0', source: 's', type: 'tokens', subject: 'x', time: 'yesterday' },
        ]);
        expect.unreachable();
      } catch (error) {
        expect(error).toMatchObject({
          status: 400,
          extensions: {
            errors: [
              { path: '[1].id', message: expect.any(String) },
              { path: '[1].time', message: expect.stringContaining('RFC 3339') },
            ],
          },
        });
      }
      const [single] = ingest.parse({ specversion: '1.0', id: 'a', source: 's', type: 't', subject: 'x' });
      expect(single?.time).toBe(clock.now().toISOString());
      expect(single?.data).toEqual({});
    });
  });

  describe('aggregations', () => {
    it('computes SUM, COUNT, AVG, MIN, MAX, LATEST and UNIQUE_COUNT', async () => {
      const { ingest, reader } = await setup();
      const s = { subject: 'agg' };
      await ingest.write([
        tokenEvent('2026-01-02T10:00:30Z', 5, { ...s, model: 'small' }),
        tokenEvent('2026-01-02T10:59:59Z', 1, { ...s, model: 'large' }),
        tokenEvent('2026-01-02T12:00:00Z', 9, { ...s, model: 'small' }),
        tokenEvent('2026-01-02T11:30:00Z', 3, { ...s, model: 'small' }),
        requestEvent('2026-01-02T11:00:00Z', s),
        requestEvent('2026-01-02T11:00:01Z', s),
      ]);
      const q = async (meterSlug: string) =>
        (await reader.query({ meterSlug, subject: ['agg'] })).data.map((r) => r.value);
      expect(await q('tokens')).toEqual([18]);
      expect(await q('requests')).toEqual([2]);
      expect(await q('tokens_avg')).toEqual([4.5]);
      expect(await q('tokens_min')).toEqual([1]);
      expect(await q('tokens_max')).toEqual([9]);
      expect(await q('tokens_latest')).toEqual([9]); // latest by event time, not by arrival
      expect(await q('models')).toEqual([2]);
      // Every aggregation gives the same answer when the range cuts through rollup buckets.
      const from = new Date('2026-01-02T10:00:31Z');
      const to = new Date('2026-01-02T11:59:00Z');
      const cut = async (meterSlug: string) =>
        (await reader.query({ meterSlug, subject: ['agg'], from, to })).data.map((r) => r.value);
      expect(await cut('tokens')).toEqual([4]);
      expect(await cut('tokens_avg')).toEqual([2]);
      expect(await cut('tokens_min')).toEqual([1]);
      expect(await cut('tokens_max')).toEqual([3]);
      expect(await cut('tokens_latest')).toEqual([3]);
      expect(await cut('models')).toEqual([2]);
      expect(await cut('requests')).toEqual([2]);
    });
  });

  describe('queries', () => {
    it('splits by window, subject and group-by, filters by group-by and subject, half-open ranges', async () => {
      const { ingest, reader } = await setup();
      await ingest.write([
        tokenEvent('2026-01-03T00:00:00Z', 1, { subject: 'q1', model: 'small', type: 'input' }),
        tokenEvent('2026-01-03T00:30:00Z', 2, { subject: 'q1', model: 'small', type: 'output' }),
        tokenEvent('2026-01-03T01:10:00Z', 4, { subject: 'q1', model: 'large', type: 'input' }),
        tokenEvent('2026-01-03T01:10:00Z', 8, { subject: 'q2', model: 'large', type: 'input' }),
        tokenEvent('2026-01-03T02:00:00Z', 16, { subject: 'q2', model: 'large', type: 'input' }),
      ]);
      const from = new Date('2026-01-03T00:00:00Z');
      const to = new Date('2026-01-03T02:00:00Z'); // excludes the 02:00 event
      const hourly = await reader.query({
        meterSlug: 'tokens',
        from,
        to,
        windowSize: 'HOUR',
        subject: ['q1', 'q2'],
      });
      expect(hourly.windowSize).toBe('HOUR');
      expect(hourly.data).toEqual([
        {
          value: 3,
          windowStart: '2026-01-03T00:00:00.000Z',
          windowEnd: '2026-01-03T01:00:00.000Z',
          subject: null,
          groupBy: {},
        },
        {
          value: 12,
          windowStart: '2026-01-03T01:00:00.000Z',
          windowEnd: '2026-01-03T02:00:00.000Z',
          subject: null,
          groupBy: {},
        },
      ]);
      const bySubjectModel = await reader.query({
        meterSlug: 'tokens',
        from,
        to,
        subject: ['q1', 'q2'],
        groupBy: ['subject', 'model'],
      });
      expect(bySubjectModel.data.map((r) => [r.subject, r.groupBy.model, r.value])).toEqual([
        ['q1', 'large', 4],
        ['q1', 'small', 3],
        ['q2', 'large', 8],
      ]);
      expect(bySubjectModel.data[0]).toMatchObject({
        windowStart: from.toISOString(),
        windowEnd: to.toISOString(),
      });
      const filtered = await reader.query({
        meterSlug: 'tokens',
        subject: ['q1', 'q2'],
        filterGroupBy: { model: 'large', type: 'input' },
      });
      expect(filtered.data.map((r) => r.value)).toEqual([28]);
      const onlyQ2 = await reader.query({ meterSlug: 'tokens', subject: ['q2'], windowSize: 'MINUTE' });
      expect(onlyQ2.data.map((r) => [r.windowStart, r.windowEnd, r.value])).toEqual([
        ['2026-01-03T01:10:00.000Z', '2026-01-03T01:11:00.000Z', 8],
        ['2026-01-03T02:00:00.000Z', '2026-01-03T02:01:00.000Z', 16],
      ]);
    });

    it('cuts days in the requested time zone (DST and half-hour offsets included)', async () => {
      const { ingest, reader } = await setup();
      await ingest.write([
        // 2026-03-08 is the US spring-forward day: a 23-hour day in New York.
        tokenEvent('2026-03-08T04:59:00Z', 1, { subject: 'tz' }), // Mar 7, 23:59 EST
        tokenEvent('2026-03-08T05:00:00Z', 2, { subject: 'tz' }), // Mar 8, 00:00 EST
        tokenEvent('2026-03-09T03:59:00Z', 4, { subject: 'tz' }), // Mar 8, 23:59 EDT
        tokenEvent('2026-03-09T04:00:00Z', 8, { subject: 'tz' }), // Mar 9, 00:00 EDT
      ]);
      const ny = await reader.query({
        meterSlug: 'tokens',
        subject: ['tz'],
        windowSize: 'DAY',
        windowTimeZone: 'America/New_York',
      });
      expect(ny.data.map((r) => [r.windowStart, r.windowEnd, r.value])).toEqual([
        ['2026-03-07T05:00:00.000Z', '2026-03-08T05:00:00.000Z', 1],
        ['2026-03-08T05:00:00.000Z', '2026-03-09T04:00:00.000Z', 6],
        ['2026-03-09T04:00:00.000Z', '2026-03-10T04:00:00.000Z', 8],
      ]);
      const monthly = await reader.query({ meterSlug: 'tokens', subject: ['tz'], windowSize: 'MONTH' });
      expect(monthly.data.map((r) => [r.windowStart, r.windowEnd, r.value])).toEqual([
        ['2026-03-01T00:00:00.000Z', '2026-04-01T00:00:00.000Z', 15],
      ]);
      const kolkata = await reader.query({
        meterSlug: 'tokens',
        subject: ['tz'],
        windowSize: 'HOUR',
        windowTimeZone: 'Asia/Kolkata',
      });
      expect(kolkata.data.map((r) => [r.windowStart, r.value])).toEqual([
        ['2026-03-08T04:30:00.000Z', 3],
        ['2026-03-09T03:30:00.000Z', 12],
      ]);
      expect(
        reader
          .explain({ meterSlug: 'tokens', windowSize: 'HOUR', windowTimeZone: 'Asia/Kolkata' })
          .map((s) => s.source),
      ).toEqual(['minute']);
    });

    it('cuts days right in a zone whose offset was a half hour in some years of the range', async () => {
      const { ingest, reader } = await setup();
      // Caracas was UTC−4:30 from December 2007 to May 2016 and is UTC−4 before and after.
      await ingest.write([
        tokenEvent('2010-06-01T04:15:00Z', 1, { subject: 'caracas' }), // May 31, 23:45 local
        tokenEvent('2010-06-01T04:45:00Z', 2, { subject: 'caracas' }), // Jun 1, 00:15 local
      ]);
      const range = {
        meterSlug: 'tokens',
        subject: ['caracas'],
        windowSize: 'DAY' as const,
        windowTimeZone: 'America/Caracas',
        from: new Date('2005-01-01T04:00:00Z'),
        to: new Date('2026-01-01T04:00:00Z'),
      };
      // Hour buckets (04:00–05:00 UTC) would straddle local midnight: minute rollups are read.
      expect(reader.explain(range).map((s) => s.source)).toEqual(['minute']);
      const days = await reader.query(range);
      expect(days.data.map((r) => [r.windowStart, r.value])).toEqual([
        ['2010-05-31T04:30:00.000Z', 1],
        ['2010-06-01T04:30:00.000Z', 2],
      ]);
    });

    it('plans whole hours from the hour rollup, whole minutes from the minute rollup, raw at the edges', () => {
      const segments = planSegments(new Date('2026-01-01T10:20:30Z'), new Date('2026-01-01T14:05:10Z'), [
        'day',
        'hour',
        'minute',
      ]);
      expect(
        segments.map((s) => [
          s.source,
          s.from?.toISOString().slice(11, 19),
          s.to?.toISOString().slice(11, 19),
        ]),
      ).toEqual([
        ['raw', '10:20:30', '10:21:00'],
        ['minute', '10:21:00', '11:00:00'],
        ['hour', '11:00:00', '14:00:00'],
        ['minute', '14:00:00', '14:05:00'],
        ['raw', '14:05:00', '14:05:10'],
      ]);
      expect(planSegments(null, null, ['day', 'hour', 'minute'])).toEqual([
        { source: 'day', from: null, to: null },
      ]);
      const days = planSegments(new Date('2026-01-01T23:00:00Z'), new Date('2026-01-04T00:00:30Z'), [
        'day',
        'hour',
        'minute',
      ]);
      expect(days.map((s) => s.source)).toEqual(['hour', 'day', 'raw']);
    });

    it('answers 400 for unknown group-bys, time zones and reversed ranges; 404 for unknown meters', async () => {
      const { reader } = await setup();
      await expect(reader.query({ meterSlug: 'nope' })).rejects.toMatchObject({ status: 404 });
      await expect(reader.query({ meterSlug: 'tokens', groupBy: ['colour'] })).rejects.toMatchObject({
        status: 400,
      });
      await expect(
        reader.query({ meterSlug: 'tokens', filterGroupBy: { colour: 'red' } }),
      ).rejects.toMatchObject({
        status: 400,
      });
      await expect(
        reader.query({ meterSlug: 'tokens', windowTimeZone: 'Mars/Olympus' }),
      ).rejects.toMatchObject({
        status: 400,
      });
      await expect(
        reader.query({ meterSlug: 'tokens', from: new Date('2026-01-02'), to: new Date('2026-01-01') }),
      ).rejects.toMatchObject({ status: 400 });
    });

    it('counts stored events for a meter added later, and rebuilds a meter whose definition changed', async () => {
      const { ingest } = await setup();
      await ingest.write([
        { ...tokenEvent('2026-01-05T00:00:00Z', 7, { subject: 'late' }), type: 'late' },
        { ...tokenEvent('2026-01-05T00:00:01Z', 5, { subject: 'late' }), type: 'late' },
      ]);
      const withLate = [
        ...testMeters,
        ...meters([{ slug: 'late', eventType: 'late', aggregation: 'COUNT' }]),
      ];
      const first = await setup(withLate);
      expect((await first.reader.query({ meterSlug: 'late' })).data.map((r) => r.value)).toEqual([2]);
      const changed = [
        ...testMeters,
        ...meters([{ slug: 'late', eventType: 'late', aggregation: 'SUM', valueProperty: '$.tokens' }]),
      ];
      const second = await setup(changed);
      expect((await second.reader.query({ meterSlug: 'late' })).data.map((r) => r.value)).toEqual([12]);
    });
  });
});
