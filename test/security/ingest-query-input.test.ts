import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type OmStack, startOmStack } from '../metering/om-stack.ts';

/**
 * Meter query input that reached the database unchecked: a LIKE pattern ending in a lone escape
 * character made PostgreSQL fail the query (22025), a 500. Replayed over HTTP: 400 problem+json
 * naming the field; a search text with backslashes and wildcards is taken literally.
 */
let stack: OmStack;

beforeAll(async () => {
  stack = await startOmStack();
  await stack.om.events.ingest([
    {
      type: 'tokens',
      subject: 'qi',
      time: new Date('2026-02-01T10:00:00Z'),
      data: { tokens: 1, model: 'a\\b%' },
    },
  ]);
}, 60_000);

afterAll(async () => {
  await stack?.stop();
});

const post = (body: unknown) =>
  stack.call('/api/v1/meters/tokens/query', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });

describe('meter query input', () => {
  it('refuses a LIKE pattern ending in a lone escape with 400, not a database error', async () => {
    for (const op of ['$like', '$nlike', '$ilike', '$nilike']) {
      const res = await post({ advancedMeterGroupByFilters: { model: { [op]: 'a\\' } } });
      expect(res.status).toBe(400);
      expect(res.headers.get('content-type')).toBe('application/problem+json');
      expect(((await res.json()) as { errors: { path: string }[] }).errors[0]?.path).toBe(
        `advancedMeterGroupByFilters.model.${op}`,
      );
    }
    const escaped = await post({
      advancedMeterGroupByFilters: { model: { $like: 'a\\\\b\\%' } },
      groupBy: ['model'],
    });
    expect(escaped.status).toBe(200);
    expect(((await escaped.json()) as { data: { value: number }[] }).data.map((r) => r.value)).toEqual([1]);
  });

  it('takes search text literally, backslashes and wildcards included', async () => {
    const values = async (search: string) => {
      const res = await stack.call(
        `/api/v1/meters/tokens/group-by/model/values?from=2026-01-01T00:00:00Z&search=${encodeURIComponent(search)}`,
      );
      expect(res.status).toBe(200);
      return res.json();
    };
    expect(await values('\\')).toEqual(['a\\b%']);
    expect(await values('b%')).toEqual(['a\\b%']);
    expect(await values('_')).toEqual([]);
  });

  it('refuses filters nested past the limit and unknown operators with 400', async () => {
    const deep = await post({
      advancedMeterGroupByFilters: { model: { $and: [{ $or: [{ $and: [{ $eq: 'a' }] }] }] } },
    });
    expect(deep.status).toBe(400);
    const unknown = await post({ advancedMeterGroupByFilters: { model: { $regex: '.*' } } });
    expect(unknown.status).toBe(400);
    expect(unknown.headers.get('content-type')).toBe('application/problem+json');
  });
});
