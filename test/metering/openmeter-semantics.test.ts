import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type OmStack, startOmStack } from './om-stack.ts';

/**
 * Ingest and meter-query edge cases, through the official `@openmeter/sdk`, with the answer
 * OpenMeter's code gives (openmeterio/openmeter):
 * - windows: openmeter/streaming/clickhouse/meter_query.go (tumbleStart/tumbleEnd; DAY ends at
 *   `windowstart + toIntervalDay(1)`, MONTH at tumbleEnd in the zone);
 * - rows without windowSize: meter_query.go (tumbleStart(min(time)), tumbleEnd(max(time)) per
 *   group, no GROUP BY when nothing groups) and connector.go (QueryMeter: `from`/`to` replace them);
 * - whole seconds: the events table's `time DateTime` (event_query.go) and timeWhere's
 *   `from.Unix()`/`to.Unix()` (meter_query.go);
 * - dropped events: ValidateKafkaPayloadToCloudEvent (openmeter/ingest/kafkaingest/serializer/
 *   serializer.go) in openmeter/sink/sink.go; content types: openmeter/ingest/httpdriver/ingest.go;
 * - values: `ifNotFinite(toFloat64OrNull(JSON_VALUE(data, path)), null)` in meter_query.go, and
 *   argMax, which skips rows whose value is NULL;
 * - unknown group-by keys: openmeter/meter/httphandler/mapping.go (toQueryParamsFromRequest).
 */
let stack: OmStack;
const at = (iso: string) => new Date(iso);
const span = (rows: { windowStart: Date; windowEnd: Date; value: number }[]) =>
  rows.map((r) => [r.windowStart.toISOString(), r.windowEnd.toISOString(), r.value]);

beforeAll(async () => {
  stack = await startOmStack();
}, 180_000);

afterAll(async () => {
  await stack?.stop();
});

describe('windows across time-zone changes', () => {
  it('ends HOUR and MINUTE windows one elapsed hour or minute later, also when clocks go back', async () => {
    const { om } = stack;
    // Europe/Berlin goes from CEST to CET at 01:00 UTC on 2025-10-26: 02:00–03:00 local happens twice.
    await om.events.ingest([
      { type: 'tokens', subject: 'dst', time: at('2025-10-26T00:30:00Z'), data: { tokens: 1 } },
      { type: 'tokens', subject: 'dst', time: at('2025-10-26T00:59:30Z'), data: { tokens: 2 } },
      { type: 'tokens', subject: 'dst', time: at('2025-10-26T01:30:00Z'), data: { tokens: 4 } },
    ]);
    const query = { subject: ['dst'], from: at('2025-10-25T00:00:00Z'), to: at('2025-10-28T00:00:00Z') };
    const tz = { windowTimeZone: 'Europe/Berlin' };
    const hours = await om.meters.query('tokens', { ...query, ...tz, windowSize: 'HOUR' });
    expect(span(hours.data)).toEqual([
      ['2025-10-26T00:00:00.000Z', '2025-10-26T01:00:00.000Z', 3],
      ['2025-10-26T01:00:00.000Z', '2025-10-26T02:00:00.000Z', 4],
    ]);
    const minutes = await om.meters.query('tokens', { ...query, ...tz, windowSize: 'MINUTE' });
    expect(span(minutes.data)).toEqual([
      ['2025-10-26T00:30:00.000Z', '2025-10-26T00:31:00.000Z', 1],
      ['2025-10-26T00:59:00.000Z', '2025-10-26T01:00:00.000Z', 2],
      ['2025-10-26T01:30:00.000Z', '2025-10-26T01:31:00.000Z', 4],
    ]);
    // The day of the change lasts 25 hours, from local midnight to local midnight.
    const days = await om.meters.query('tokens', { ...query, ...tz, windowSize: 'DAY' });
    expect(span(days.data)).toEqual([['2025-10-25T22:00:00.000Z', '2025-10-26T23:00:00.000Z', 7]]);
  });

  it('cuts MONTH windows at local midnight of the first, across a DST change inside the month', async () => {
    const { om } = stack;
    await om.events.ingest([
      // 23:30 UTC on Feb 28 is already March 1 in Berlin; 22:30 UTC on March 31 is April 1 (CEST).
      { type: 'tokens', subject: 'month', time: at('2026-02-28T23:30:00Z'), data: { tokens: 10 } },
      { type: 'tokens', subject: 'month', time: at('2026-03-31T21:30:00Z'), data: { tokens: 20 } },
      { type: 'tokens', subject: 'month', time: at('2026-03-31T22:30:00Z'), data: { tokens: 40 } },
    ]);
    const months = await om.meters.query('tokens', {
      subject: ['month'],
      windowSize: 'MONTH',
      windowTimeZone: 'Europe/Berlin',
      from: at('2026-02-01T00:00:00Z'),
      to: at('2026-05-01T00:00:00Z'),
    });
    expect(span(months.data)).toEqual([
      ['2026-02-28T23:00:00.000Z', '2026-03-31T22:00:00.000Z', 30],
      ['2026-03-31T22:00:00.000Z', '2026-04-30T22:00:00.000Z', 40],
    ]);
  });

  it('returns only windows that have events, in window order', async () => {
    const { om } = stack;
    await om.events.ingest([
      { type: 'tokens', subject: 'gaps', time: at('2026-06-03T10:00:00Z'), data: { tokens: 1, model: 'b' } },
      { type: 'tokens', subject: 'gaps', time: at('2026-06-01T10:00:00Z'), data: { tokens: 2, model: 'b' } },
      { type: 'tokens', subject: 'gaps', time: at('2026-06-01T11:00:00Z'), data: { tokens: 3, model: 'a' } },
      // Without the group-by key: its value reads as "" (JSON_VALUE of a missing path).
      { type: 'tokens', subject: 'gaps', time: at('2026-06-03T11:00:00Z'), data: { tokens: 8 } },
    ]);
    const days = await om.meters.query('tokens', {
      subject: ['gaps'],
      groupBy: ['model'],
      windowSize: 'DAY',
      from: at('2026-06-01T00:00:00Z'),
      to: at('2026-06-05T00:00:00Z'),
    });
    expect(days.data.map((r) => [r.windowStart.toISOString(), r.groupBy.model, r.value])).toEqual([
      ['2026-06-01T00:00:00.000Z', 'a', 3],
      ['2026-06-01T00:00:00.000Z', 'b', 2],
      ['2026-06-03T00:00:00.000Z', 'b', 1],
      ['2026-06-03T00:00:00.000Z', '', 8],
    ]);
  });
});

describe('rows without windowSize', () => {
  it("span each group's first minute to the end of its last minute where from/to are not given", async () => {
    const { om } = stack;
    await om.events.ingest([
      { type: 'tokens', subject: 'nb_a', time: at('2026-07-01T10:00:30Z'), data: { tokens: 1 } },
      { type: 'tokens', subject: 'nb_a', time: at('2026-07-01T12:34:10Z'), data: { tokens: 2 } },
      { type: 'tokens', subject: 'nb_b', time: at('2026-07-02T11:00:00Z'), data: { tokens: 5 } },
    ]);
    const rows = async (extra: Record<string, Date>) =>
      (await om.meters.query('tokens', { subject: ['nb_a', 'nb_b'], ...extra })).data.map((r) => [
        r.subject,
        r.windowStart.toISOString(),
        r.windowEnd.toISOString(),
        r.value,
      ]);
    expect(await rows({})).toEqual([
      ['nb_a', '2026-07-01T10:00:00.000Z', '2026-07-01T12:35:00.000Z', 3],
      ['nb_b', '2026-07-02T11:00:00.000Z', '2026-07-02T11:01:00.000Z', 5],
    ]);
    // A given end is the row's end as sent (milliseconds included); the other end is the group's.
    expect(await rows({ from: at('2026-07-01T09:00:00.250Z') })).toEqual([
      ['nb_a', '2026-07-01T09:00:00.250Z', '2026-07-01T12:35:00.000Z', 3],
      ['nb_b', '2026-07-01T09:00:00.250Z', '2026-07-02T11:01:00.000Z', 5],
    ]);
    expect(await rows({ to: at('2026-07-01T12:00:00Z') })).toEqual([
      ['nb_a', '2026-07-01T10:00:00.000Z', '2026-07-01T12:00:00.000Z', 1],
    ]);
    // UNIQUE_COUNT reads raw values for the bounds.
    const models = await om.meters.query('models', { subject: ['nb_a'] });
    expect(models.data).toEqual([]);
  });

  it('answer one row of 0 for COUNT and UNIQUE_COUNT when nothing groups and no event matches', async () => {
    const { om } = stack;
    const empty = { from: at('2001-01-01T00:00:00Z'), to: at('2001-02-01T00:00:00Z') };
    const zero = (await om.meters.query('tokens_count', empty)).data;
    expect(span(zero)).toEqual([['2001-01-01T00:00:00.000Z', '2001-02-01T00:00:00.000Z', 0]]);
    expect(span((await om.meters.query('models', empty)).data)).toEqual([
      ['2001-01-01T00:00:00.000Z', '2001-02-01T00:00:00.000Z', 0],
    ]);
    // Without from/to the row spans tumbleStart/tumbleEnd of no time: the epoch's first minute.
    const noRange = await om.meters.query('tokens_count', { filterGroupBy: { model: 'no-such-model' } });
    expect(span(noRange.data)).toEqual([['1970-01-01T00:00:00.000Z', '1970-01-01T00:01:00.000Z', 0]]);
    // SUM, AVG, MIN, MAX and LATEST of nothing are NULL: no row. Grouped queries have no row either.
    for (const slug of ['tokens', 'tokens_avg', 'tokens_min', 'tokens_max', 'tokens_latest']) {
      expect((await om.meters.query(slug, empty)).data).toEqual([]);
    }
    expect((await om.meters.query('tokens_count', { ...empty, subject: ['nobody'] })).data).toEqual([]);
    expect((await om.meters.query('tokens_count', { ...empty, windowSize: 'DAY' })).data).toEqual([]);
  });
});

describe('time ranges in whole seconds', () => {
  it('counts an event when its second is in [second of from, second of to)', async () => {
    const { om } = stack;
    await om.events.ingest([
      { type: 'tokens', subject: 'sec', time: at('2026-08-01T10:00:00.600Z'), data: { tokens: 7 } },
    ]);
    const value = async (from: string, to: string) => {
      const result = await om.meters.query('tokens', { subject: ['sec'], from: at(from), to: at(to) });
      return { from: result.from?.toISOString(), values: result.data.map((r) => r.value) };
    };
    // `to` at .800 is second 10:00:00, as is the event: not counted.
    expect(await value('2026-08-01T09:00:00Z', '2026-08-01T10:00:00.800Z')).toEqual({
      from: '2026-08-01T09:00:00.000Z',
      values: [],
    });
    // `from` at .900 is second 10:00:00: counted, and echoed as sent.
    expect(await value('2026-08-01T10:00:00.900Z', '2026-08-01T10:00:01Z')).toEqual({
      from: '2026-08-01T10:00:00.900Z',
      values: [7],
    });
    // Both ends inside one second: an empty range.
    expect(await value('2026-08-01T10:00:00.100Z', '2026-08-01T10:00:00.900Z')).toEqual({
      from: '2026-08-01T10:00:00.100Z',
      values: [],
    });
  });
});

describe('ingest as OpenMeter accepts it', () => {
  it('accepts a batch and drops its events without subject, id, source or type, or timed before 1970', async () => {
    const { om, call } = stack;
    await expect(
      om.events.ingest([
        { type: 'tokens', subject: 'drop', time: at('2026-09-01T10:00:00Z'), data: { tokens: 1 } },
        { type: 'tokens', subject: '', time: at('2026-09-01T10:00:00Z'), data: { tokens: 10 } },
        { id: '', type: 'tokens', subject: 'drop', time: at('2026-09-01T10:00:00Z'), data: { tokens: 100 } },
        { type: '', subject: 'drop', time: at('2026-09-01T10:00:00Z'), data: { tokens: 1000 } },
        { type: 'tokens', subject: 'drop', time: at('1969-12-31T23:59:59Z'), data: { tokens: 10000 } },
      ]),
    ).resolves.toBeUndefined();
    expect((await om.meters.query('tokens', { subject: ['drop'] })).data.map((r) => r.value)).toEqual([1]);
    expect(((await om.events.list({ subject: 'drop' } as never)) ?? []).length).toBe(1);
    // Strict ingest refuses the batch instead, naming each problem.
    const strict = await call('/api/v1/events?strict=true', {
      method: 'POST',
      headers: { 'content-type': 'application/cloudevents-batch+json' },
      body: JSON.stringify([
        { specversion: '1.0', id: 'x1', source: 's', type: 'tokens', subject: '', data: { tokens: 1 } },
        {
          specversion: '1.0',
          id: 'x2',
          source: 's',
          type: 'tokens',
          subject: 'drop',
          time: '1960-01-01T00:00:00Z',
        },
      ]),
    });
    expect(strict.status).toBe(400);
    expect(((await strict.json()) as { errors: { path: string }[] }).errors.map((e) => e.path)).toEqual([
      '[0].subject',
      '[1].time',
    ]);
    // A field of the wrong type fails decoding in OpenMeter: the whole request is refused.
    const wrongType = await call('/api/v1/events', {
      method: 'POST',
      headers: { 'content-type': 'application/cloudevents-batch+json' },
      body: JSON.stringify([
        { specversion: '1.0', id: 'y1', source: 's', type: 'tokens', subject: 'drop', data: { tokens: 1 } },
        { specversion: '1.0', id: 7, source: 's', type: 'tokens', subject: 'drop', data: { tokens: 1 } },
      ]),
    });
    expect(wrongType.status).toBe(400);
    expect(((await om.events.list({ subject: 'drop' } as never)) ?? []).length).toBe(1);
  });

  it('takes an empty CloudEvents batch (204) and matches content types exactly', async () => {
    const { om, call } = stack;
    await expect(om.events.ingest([])).resolves.toBeUndefined();
    const post = (contentType: string, body: unknown) =>
      call('/api/v1/events', {
        method: 'POST',
        headers: { 'content-type': contentType },
        body: JSON.stringify(body),
      });
    // As application/json an empty array is no event at all ("no events found").
    expect((await post('application/json', [])).status).toBe(400);
    const event = {
      specversion: '1.0',
      id: 'ct1',
      source: 's',
      type: 'tokens',
      subject: 'ct',
      data: { tokens: 1 },
    };
    const charset = await post('application/json; charset=utf-8', event);
    expect(charset.status).toBe(400);
    expect(((await charset.json()) as { detail: string }).detail).toMatch(
      /^invalid content type: application\/json; charset=utf-8/,
    );
    expect((await post('application/json', event)).status).toBe(204);
  });
});

describe('meter values read as OpenMeter reads them', () => {
  it('counts numbers and numeric strings, skips the rest, and LATEST/MIN/MAX/AVG ignore skipped values', async () => {
    const { om } = stack;
    const values: unknown[] = [5, '1e3', '2.5', '', true, null, 'NaN', 'Infinity', { n: 1 }, [3], 'abc'];
    await om.events.ingest(
      values.map((tokens, i) => ({
        type: 'tokens',
        subject: 'vals',
        time: at(`2026-10-01T10:${String(i).padStart(2, '0')}:00Z`),
        data: { tokens },
      })),
    );
    const value = async (slug: string) =>
      (await om.meters.query(slug, { subject: ['vals'] })).data.map((r) => r.value);
    expect(await value('tokens')).toEqual([1007.5]);
    expect(await value('tokens_avg')).toEqual([1007.5 / 3]);
    expect(await value('tokens_min')).toEqual([2.5]);
    expect(await value('tokens_max')).toEqual([1000]);
    // The last events' values are skipped: LATEST is the last usable one ('2.5').
    expect(await value('tokens_latest')).toEqual([2.5]);
    expect(await value('tokens_count')).toEqual([values.length]);
  });

  it('answers CSV for Accept: text/csv alone, with customer_id where the query put it', async () => {
    const { om, call } = stack;
    await om.customers.create({
      key: 'csv_co',
      name: 'CSV Co',
      usageAttribution: { subjectKeys: ['csv-key'] },
    } as never);
    await om.events.ingest([
      {
        type: 'tokens',
        subject: 'csv-key',
        time: at('2026-11-01T10:00:00Z'),
        data: { tokens: 2, model: 'a' },
      },
    ]);
    const csv = async (accept: string) => {
      const res = await call(
        '/api/v1/meters/tokens/query?groupBy=model&filterCustomerId=csv_co&from=2026-11-01T00:00:00Z&to=2026-11-02T00:00:00Z',
        { headers: { accept } },
      );
      return { type: res.headers.get('content-type'), body: await res.text() };
    };
    expect(await csv('text/csv')).toEqual({
      type: 'text/csv',
      body: 'window_start,window_end,model,customer_id,value\n2026-11-01T00:00:00Z,2026-11-02T00:00:00Z,a,csv_co,2.000000\n',
    });
    // A list of media types is not one media type: JSON, as Go's mime.ParseMediaType fails on it.
    expect((await csv('text/csv, application/json')).type).toMatch(/^application\/json/);
    // Rows of subjects that exist as subjects carry their display names (query_csv.go).
    await om.subjects.upsert([{ key: 'csv-key', displayName: 'CSV Key' }]);
    const bySubject = await om.client.GET('/api/v1/meters/{meterIdOrSlug}/query', {
      params: {
        path: { meterIdOrSlug: 'tokens' },
        query: {
          subject: ['csv-key', 'nobody'],
          from: at('2026-11-01T00:00:00Z'),
          to: at('2026-11-02T00:00:00Z'),
        } as never,
      },
      headers: { Accept: 'text/csv' },
      parseAs: 'text',
    });
    expect(bySubject.data).toBe(
      'window_start,window_end,subject,subject_display_name,value\n2026-11-01T00:00:00Z,2026-11-02T00:00:00Z,csv-key,CSV Key,2.000000\n',
    );
  });

  it('refuses a groupBy or filterGroupBy key the meter does not have (400), as OpenMeter does', async () => {
    const { om } = stack;
    await expect(om.meters.query('tokens', { groupBy: ['nope'] })).rejects.toMatchObject({ status: 400 });
    await expect(om.meters.query('tokens', { filterGroupBy: { nope: 'x' } })).rejects.toMatchObject({
      status: 400,
    });
    await expect(
      om.meters.queryPost('tokens', { advancedMeterGroupByFilters: { nope: { $eq: 'x' } } } as never),
    ).rejects.toMatchObject({ status: 400 });
    // customer_id groups only with a customer filter (streaming/query_params.go, Validate).
    await expect(om.meters.query('tokens', { groupBy: ['customer_id'] })).rejects.toMatchObject({
      status: 400,
    });
  });
});
