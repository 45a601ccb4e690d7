import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type OmStack, startOmStack } from '../metering/om-stack.ts';

/**
 * Issue 12, row 1: one CloudEvent whose `data` nested 10,000 objects deep, sent to
 * `POST /api/v1/events`, overflowed the stack and ended the whole process. Replayed over HTTP:
 * now a 400 problem+json that names the limit, and the process keeps serving.
 */
let stack: OmStack;

beforeAll(async () => {
  stack = await startOmStack();
}, 180_000);

afterAll(async () => {
  await stack?.stop();
});

const nested = (depth: number) => `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
const eventWithData = (id: string, data: string) =>
  `{"specversion":"1.0","id":"${id}","source":"attack","type":"tokens","subject":"deep","data":${data}}`;

describe('ingest: JSON nesting depth', () => {
  it('refuses data nested 10,000 deep with 400 naming the limit, and keeps serving', async () => {
    for (const [type, body] of [
      ['application/cloudevents+json', eventWithData('deep-1', nested(10_000))],
      ['application/cloudevents-batch+json', `[${eventWithData('deep-2', nested(10_000))}]`],
      ['application/json', `[${'['.repeat(100_000)}${']'.repeat(100_000)}]`],
    ] as const) {
      const res = await stack.call('/api/v1/events', {
        method: 'POST',
        headers: { 'content-type': type },
        body,
      });
      expect(res.status).toBe(400);
      expect(res.headers.get('content-type')).toBe('application/problem+json');
      const problem = (await res.json()) as { detail: string; limit: number };
      expect(problem.limit).toBe(64);
      expect(problem.detail).toMatch(/nested more than 64 levels deep.*console\.limits\.jsonDepth/);
    }
    // Still alive, and nothing of the refused events was stored.
    const meters = await stack.call('/api/v1/meters');
    expect(meters.status).toBe(200);
    expect((await stack.om.meters.query('tokens_count', { subject: ['deep'] })).data).toEqual([]);
  });

  it('accepts data nested up to the limit (brackets inside strings do not count)', async () => {
    const data = `{"tokens":1,"model":"${'{['.repeat(200)}","x":${nested(60)}}`;
    const res = await stack.call('/api/v1/events', {
      method: 'POST',
      headers: { 'content-type': 'application/cloudevents-batch+json' },
      body: `[${eventWithData('ok-deep', data)}]`,
    });
    expect(res.status).toBe(204);
    expect((await stack.om.meters.query('tokens', { subject: ['deep'] })).data[0]?.value).toBe(1);
  });
});
