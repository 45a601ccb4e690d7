import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type OmStack, startOmStack } from './om-stack.ts';

/**
 * The four places where Tollgate answered differently from OpenMeter (issue 14), driven through
 * the official `@openmeter/sdk` as an OpenMeter user would. The rules come from OpenMeter's code:
 * openmeter/ingest/httpdriver/{ingest,errors}.go (content types, 400),
 * openmeter/streaming/clickhouse/meter_query.go (values read with toFloat64OrNull at query time,
 * windows from tumbleStart/tumbleEnd in the time zone) and openmeter/meter/httphandler/mapping.go
 * (`subject` filters and adds `subject` to the group-by).
 */
let stack: OmStack;

beforeAll(async () => {
  stack = await startOmStack();
}, 180_000);

afterAll(async () => {
  await stack?.stop();
});

const at = (iso: string) => new Date(iso);

describe('OpenMeter behaviours through the official client', () => {
  it('accepts events whose value is missing or not a number and skips the value at query time', async () => {
    const { om } = stack;
    await expect(
      om.events.ingest([
        {
          type: 'tokens',
          subject: 'lenient',
          time: at('2026-03-01T10:00:00Z'),
          data: { tokens: 10, model: 'a' },
        },
        { type: 'tokens', subject: 'lenient', time: at('2026-03-01T10:01:00Z'), data: { model: 'a' } },
        {
          type: 'tokens',
          subject: 'lenient',
          time: at('2026-03-01T10:02:00Z'),
          data: { tokens: 'lots', model: 'b' },
        },
        {
          type: 'tokens',
          subject: 'lenient',
          time: at('2026-03-01T10:03:00Z'),
          data: { tokens: '60', model: 'b' },
        },
      ]),
    ).resolves.toBeUndefined();
    const value = async (slug: string) =>
      (await om.meters.query(slug, { subject: ['lenient'] })).data[0]?.value;
    expect(await value('tokens')).toBe(70);
    expect(await value('tokens_avg')).toBe(35);
    expect(await value('tokens_min')).toBe(10);
    // COUNT counts every event, valued or not; UNIQUE_COUNT reads its own property.
    expect(await value('tokens_count')).toBe(4);
    expect(await value('models')).toBe(2);
    // Every event is stored (the events listing shows the unvalued ones too).
    const listed = await om.events.list({ subject: ['lenient'] } as never);
    expect(listed?.length).toBe(4);
  });

  it('keeps strict ingest opt-in: per request (?strict=true) and per meter (strict: true)', async () => {
    const { om, call } = stack;
    const post = (query: string, events: unknown[]) =>
      call(`/api/v1/events${query}`, {
        method: 'POST',
        headers: { 'content-type': 'application/cloudevents-batch+json' },
        body: JSON.stringify(events),
      });
    const event = {
      specversion: '1.0',
      source: 'strict-test',
      subject: 'strict',
      time: '2026-03-01T10:00:00Z',
    };
    const refused = await post('?strict=true', [
      { ...event, id: 's1', type: 'tokens', data: { tokens: 5, model: 'a' } },
      { ...event, id: 's2', type: 'tokens', data: { tokens: 'five', model: 'a' } },
    ]);
    expect(refused.status).toBe(400);
    expect(refused.headers.get('content-type')).toBe('application/problem+json');
    expect(((await refused.json()) as { errors: { path: string }[] }).errors.map((e) => e.path)).toEqual([
      '[1].data.tokens',
    ]);
    const byMeter = await post('', [
      { ...event, id: 'u1', type: 'upload', data: { bytes: 100 } },
      { ...event, id: 'u2', type: 'upload', data: {} },
    ]);
    expect(byMeter.status).toBe(400);
    expect((await om.meters.query('tokens', { subject: ['strict'] })).data).toEqual([]);
    expect((await om.meters.query('strict_bytes', { subject: ['strict'] })).data).toEqual([]);
    expect((await post('', [{ ...event, id: 'u3', type: 'upload', data: { bytes: 100 } }])).status).toBe(204);
    expect((await om.meters.query('strict_bytes', { subject: ['strict'] })).data[0]?.value).toBe(100);
  });

  it('answers an unsupported Content-Type with 400 problem+json', async () => {
    const res = await stack.call('/api/v1/events', {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: '{}',
    });
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    expect(((await res.json()) as { detail: string }).detail).toMatch(/^invalid content type: text\/plain/);
  });

  it('filters by subject and groups by it: one row per subject, each carrying its subject', async () => {
    const { om } = stack;
    await om.events.ingest([
      { type: 'tokens', subject: 'grp_a', time: at('2026-03-02T10:00:00Z'), data: { tokens: 3, model: 'a' } },
      { type: 'tokens', subject: 'grp_b', time: at('2026-03-02T10:00:00Z'), data: { tokens: 4, model: 'a' } },
      { type: 'tokens', subject: 'grp_b', time: at('2026-03-02T11:00:00Z'), data: { tokens: 5, model: 'b' } },
      {
        type: 'tokens',
        subject: 'grp_c',
        time: at('2026-03-02T10:00:00Z'),
        data: { tokens: 100, model: 'a' },
      },
    ]);
    const result = await om.meters.query('tokens', { subject: ['grp_a', 'grp_b'] });
    expect(result.data.map((r) => [r.subject, r.value])).toEqual([
      ['grp_a', 3],
      ['grp_b', 9],
    ]);
    const byModel = await om.meters.query('tokens', { subject: ['grp_b'], groupBy: ['model'] });
    expect(byModel.data.map((r) => [r.subject, r.groupBy.model, r.value])).toEqual([
      ['grp_b', 'a', 4],
      ['grp_b', 'b', 5],
    ]);
  });

  it('returns whole windows in windowTimeZone, not windows cut to from/to', async () => {
    const { om } = stack;
    await om.events.ingest([
      // Berlin is UTC+1 in March: local midnight of March 2 is 23:00 UTC on March 1.
      { type: 'tokens', subject: 'win', time: at('2026-03-01T22:30:00Z'), data: { tokens: 1, model: 'a' } },
      { type: 'tokens', subject: 'win', time: at('2026-03-02T01:00:00Z'), data: { tokens: 2, model: 'a' } },
      // Outside the range: not counted, although its window is returned whole.
      { type: 'tokens', subject: 'win', time: at('2026-03-01T21:00:00Z'), data: { tokens: 40, model: 'a' } },
    ]);
    const days = await om.meters.query('tokens', {
      subject: ['win'],
      from: at('2026-03-01T22:00:00Z'),
      to: at('2026-03-02T12:00:00Z'),
      windowSize: 'DAY',
      windowTimeZone: 'Europe/Berlin',
    });
    expect(days.data.map((r) => [r.windowStart.toISOString(), r.windowEnd.toISOString(), r.value])).toEqual([
      ['2026-02-28T23:00:00.000Z', '2026-03-01T23:00:00.000Z', 1],
      ['2026-03-01T23:00:00.000Z', '2026-03-02T23:00:00.000Z', 2],
    ]);
    const hours = await om.meters.query('tokens', {
      subject: ['win'],
      from: at('2026-03-01T22:45:00Z'),
      to: at('2026-03-02T01:30:00Z'),
      windowSize: 'HOUR',
    });
    expect(hours.data.map((r) => [r.windowStart.toISOString(), r.windowEnd.toISOString(), r.value])).toEqual([
      ['2026-03-02T01:00:00.000Z', '2026-03-02T02:00:00.000Z', 2],
    ]);
  });
});
