import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type OmStack, startOmStack } from './om-stack.ts';

/**
 * OpenMeter's meter query surface through the official `@openmeter/sdk` with exact values:
 * every aggregation, MINUTE and MONTH windows, the POST form with `filterGroupBy` lists and
 * `advancedMeterGroupByFilters` (pkg/filter/filter.go operators), `text/csv` results
 * (openmeter/meter/httphandler/query_csv.go), group-by value listing and the events listing
 * filters. (The SDK's GET query cannot send advancedMeterGroupByFilters: openapi-fetch refuses
 * nested query objects, so clients use queryPost for them, as here.)
 */
let stack: OmStack;
const at = (iso: string) => new Date(iso);

beforeAll(async () => {
  stack = await startOmStack();
  await stack.om.events.ingest([
    {
      id: 'q1',
      source: 'q',
      type: 'tokens',
      subject: 'qa',
      time: at('2026-04-30T23:59:30Z'),
      data: { tokens: 4, model: 'gpt-4', type: 'input' },
    },
    {
      id: 'q2',
      source: 'q',
      type: 'tokens',
      subject: 'qa',
      time: at('2026-05-01T00:00:10Z'),
      data: { tokens: 10, model: 'gpt-4o', type: 'output' },
    },
    {
      id: 'q3',
      source: 'q',
      type: 'tokens',
      subject: 'qa',
      time: at('2026-05-01T00:00:50Z'),
      data: { tokens: 1, model: 'claude', type: 'input' },
    },
    {
      id: 'q4',
      source: 'q',
      type: 'tokens',
      subject: 'qb',
      time: at('2026-05-01T00:01:00Z'),
      data: { tokens: 25, model: 'gpt-4', type: 'input' },
    },
    {
      id: 'q5',
      source: 'q',
      type: 'tokens',
      subject: 'qb',
      time: at('2026-05-20T12:00:00Z'),
      data: { tokens: 7, model: 'gpt-4', type: 'input' },
    },
  ]);
}, 180_000);

afterAll(async () => {
  await stack?.stop();
});

const range = { from: at('2026-04-01T00:00:00Z'), to: at('2026-06-01T00:00:00Z') };

describe('OpenMeter meter queries through the official client', () => {
  it('computes every aggregation exactly', async () => {
    const value = async (slug: string) => (await stack.om.meters.query(slug, range)).data.map((r) => r.value);
    expect(await value('tokens')).toEqual([47]);
    expect(await value('tokens_count')).toEqual([5]);
    expect(await value('tokens_avg')).toEqual([9.4]);
    expect(await value('tokens_min')).toEqual([1]);
    expect(await value('tokens_max')).toEqual([25]);
    expect(await value('tokens_latest')).toEqual([7]);
    expect(await value('models')).toEqual([3]);
  });

  it('answers MINUTE and MONTH windows, whole and in order', async () => {
    const minutes = await stack.om.meters.query('tokens', {
      ...range,
      windowSize: 'MINUTE',
      to: at('2026-05-02T00:00:00Z'),
    });
    expect(minutes.windowSize).toBe('MINUTE');
    expect(
      minutes.data.map((r) => [r.windowStart.toISOString(), r.windowEnd.toISOString(), r.value]),
    ).toEqual([
      ['2026-04-30T23:59:00.000Z', '2026-05-01T00:00:00.000Z', 4],
      ['2026-05-01T00:00:00.000Z', '2026-05-01T00:01:00.000Z', 11],
      ['2026-05-01T00:01:00.000Z', '2026-05-01T00:02:00.000Z', 25],
    ]);
    const months = await stack.om.meters.query('tokens', {
      ...range,
      windowSize: 'MONTH',
      windowTimeZone: 'Europe/Berlin',
    });
    // 23:59:30 UTC on April 30 is already May 1 in Berlin (UTC+2).
    expect(months.data.map((r) => [r.windowStart.toISOString(), r.windowEnd.toISOString(), r.value])).toEqual(
      [['2026-04-30T22:00:00.000Z', '2026-05-31T22:00:00.000Z', 47]],
    );
  });

  it('serves the POST form with filterGroupBy lists and advancedMeterGroupByFilters', async () => {
    const { om } = stack;
    type Result = { data: { groupBy: Record<string, string | null>; value: number }[] };
    const rows = async (body: Record<string, unknown>) =>
      (
        (await om.meters.queryPost('tokens', { ...range, groupBy: ['model'], ...body } as never)) as Result
      ).data.map((r) => [r.groupBy.model, r.value]);
    expect(await rows({ filterGroupBy: { model: ['gpt-4', 'claude'] } })).toEqual([
      ['claude', 1],
      ['gpt-4', 36],
    ]);
    expect(
      await rows({ advancedMeterGroupByFilters: { model: { $like: 'gpt-%' }, type: { $eq: 'input' } } }),
    ).toEqual([['gpt-4', 36]]);
    expect(await rows({ advancedMeterGroupByFilters: { model: { $nin: ['gpt-4'] } } })).toEqual([
      ['claude', 1],
      ['gpt-4o', 10],
    ]);
    expect(
      await rows({
        advancedMeterGroupByFilters: { model: { $or: [{ $contains: 'CLAU' }, { $eq: 'gpt-4o' }] } },
      }),
    ).toEqual([
      ['claude', 1],
      ['gpt-4o', 10],
    ]);
    expect(
      await rows({ subject: ['qb'], advancedMeterGroupByFilters: { model: { $gte: 'gpt-4' } } }),
    ).toEqual([['gpt-4', 32]]);
    await expect(
      om.meters.queryPost('tokens', {
        advancedMeterGroupByFilters: { model: { $eq: 'a', $ne: 'b' } },
      } as never),
    ).rejects.toMatchObject({ status: 400 });
    await expect(
      om.meters.queryPost('tokens', {
        filterGroupBy: { model: ['a'] },
        advancedMeterGroupByFilters: { model: { $eq: 'a' } },
      } as never),
    ).rejects.toMatchObject({ status: 400 });
  });

  it('answers text/csv as OpenMeter writes it', async () => {
    const res = await stack.om.client.GET('/api/v1/meters/{meterIdOrSlug}/query', {
      params: {
        path: { meterIdOrSlug: 'tokens' },
        query: { ...range, windowSize: 'DAY', subject: ['qb'], groupBy: ['model'] } as never,
      },
      headers: { Accept: 'text/csv' },
      parseAs: 'text',
    });
    expect(res.response.headers.get('content-type')).toBe('text/csv');
    expect(res.response.headers.get('content-disposition')).toBe('attachment; filename=tokens.csv');
    expect(res.data).toBe(
      [
        'window_start,window_end,subject,model,value',
        '2026-05-01T00:00:00Z,2026-05-02T00:00:00Z,qb,gpt-4,25.000000',
        '2026-05-20T00:00:00Z,2026-05-21T00:00:00Z,qb,gpt-4,7.000000',
        '',
      ].join('\n'),
    );
  });

  it('lists the values of a group-by key, searched and in range', async () => {
    const { om } = stack;
    expect(await om.meters.listGroupByValues('tokens', 'model', range as never)).toEqual([
      'claude',
      'gpt-4',
      'gpt-4o',
    ]);
    expect(
      await om.meters.listGroupByValues('tokens', 'model', { ...range, search: 'GPT' } as never),
    ).toEqual(['gpt-4', 'gpt-4o']);
    expect(
      await om.meters.listGroupByValues('tokens', 'model', {
        from: at('2026-05-10T00:00:00Z'),
        to: range.to,
      } as never),
    ).toEqual(['gpt-4']);
    await expect(om.meters.listGroupByValues('tokens', 'nope', range as never)).rejects.toMatchObject({
      status: 404,
    });
  });

  it('lists events newest first with subject, id, time and ingestion-time filters', async () => {
    const { om } = stack;
    const ids = async (query: Record<string, unknown>) =>
      ((await om.events.list(query as never)) ?? []).map((e) => e.event.id);
    expect(await ids({ subject: 'qa' })).toEqual(['q3', 'q2', 'q1']);
    expect(await ids({ subject: 'qa', limit: 2 })).toEqual(['q3', 'q2']);
    expect(await ids({ id: 'q4' })).toEqual(['q4']);
    expect(await ids({ from: at('2026-05-01T00:00:30Z'), to: at('2026-05-02T00:00:00Z') })).toEqual([
      'q4',
      'q3',
    ]);
    expect(await ids({ ingestedAtTo: at('2000-01-01T00:00:00Z') })).toEqual([]);
    const [latest] =
      (await om.events.list({ subject: 'qb', ingestedAtFrom: at('2000-01-01T00:00:00Z') } as never)) ?? [];
    expect(latest?.event).toMatchObject({
      id: 'q5',
      source: 'q',
      type: 'tokens',
      subject: 'qb',
      data: { tokens: 7 },
    });
    expect(latest?.ingestedAt).toBeInstanceOf(Date);
  });
});
