import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type OmStack, startOmStack } from '../metering/om-stack.ts';

/**
 * Issue 12, row 9: `tokens: 1e308` twice overflowed the sum, so the meter query answered
 * `value: null`, and `tokens: -1000` was accepted on a meter of token counts. Replayed over HTTP:
 * values outside the documented range (finite, |v| ≤ 1e15, negative only on meters with
 * `allowNegative`) are skipped as OpenMeter skips non-numbers, or refused with `?strict=true`.
 */
let stack: OmStack;

beforeAll(async () => {
  stack = await startOmStack();
}, 180_000);

afterAll(async () => {
  await stack?.stop();
});

const post = (events: unknown[], query = '') =>
  stack.call(`/api/v1/events${query}`, {
    method: 'POST',
    headers: { 'content-type': 'application/cloudevents-batch+json' },
    body: JSON.stringify(events),
  });

const event = (id: string, subject: string, tokens: unknown, type = 'tokens') => ({
  specversion: '1.0',
  id,
  source: 'attack',
  type,
  subject,
  time: '2026-02-01T10:00:00Z',
  data: type === 'tokens' ? { tokens, model: 'm' } : { amount: tokens },
});

describe('ingest: meter values', () => {
  it('never lets huge values overflow a sum to null', async () => {
    expect(
      (await post([event('big-1', 'big', 1e308), event('big-2', 'big', 1e308), event('big-3', 'big', 5)]))
        .status,
    ).toBe(204);
    expect(
      (await post([event('big-4', 'big', '1e308'), event('big-5', 'big', `1${'0'.repeat(400)}`)])).status,
    ).toBe(204);
    const result = await stack.om.meters.query('tokens', { subject: ['big'] });
    expect(result.data.map((r) => r.value)).toEqual([5]);
    const strict = await post([event('big-6', 'big', 1e16)], '?strict=true');
    expect(strict.status).toBe(400);
    expect(strict.headers.get('content-type')).toBe('application/problem+json');
    expect(((await strict.json()) as { errors: { path: string; message: string }[] }).errors[0]).toEqual({
      path: '[0].data.tokens',
      message: expect.stringContaining('from 0 to 1000000000000000'),
    });
    // The largest allowed value, many times over, still sums to a finite number.
    const max = Array.from({ length: 50 }, (_, i) => event(`max-${i}`, 'max', 1e15));
    expect((await post(max)).status).toBe(204);
    expect((await stack.om.meters.query('tokens', { subject: ['max'] })).data[0]?.value).toBe(5e16);
  });

  it('counts negative values only on meters that allow them', async () => {
    expect((await post([event('neg-1', 'neg', 100), event('neg-2', 'neg', -1000)])).status).toBe(204);
    expect((await stack.om.meters.query('tokens', { subject: ['neg'] })).data[0]?.value).toBe(100);
    expect((await stack.om.meters.query('tokens_min', { subject: ['neg'] })).data[0]?.value).toBe(100);
    const strict = await post([event('neg-3', 'neg', -5)], '?strict=true');
    expect(strict.status).toBe(400);
    expect(((await strict.json()) as { errors: { message: string }[] }).errors[0]?.message).toMatch(
      /negative/,
    );
    // The `balance` meter declares allowNegative: refunds count.
    expect(
      (await post([event('bal-1', 'neg', 100, 'adjustment'), event('bal-2', 'neg', -30.5, 'adjustment')]))
        .status,
    ).toBe(204);
    expect((await stack.om.meters.query('balance', { subject: ['neg'] })).data[0]?.value).toBe(69.5);
  });

  it('drops events timed before 1970 (400 when strict) and refuses query dates outside 1970–9999', async () => {
    // OpenMeter's sink drops an event whose Unix time is not positive
    // (openmeter/ingest/kafkaingest/serializer/serializer.go, ValidateKafkaPayloadToCloudEvent).
    const old = [{ ...event('old-1', 'dates', 1), time: '0001-01-01T00:00:00Z' }];
    expect((await post(old)).status).toBe(204);
    expect(await stack.tollgate.metering.listEvents({ subject: 'dates', limit: 10 })).toEqual([]);
    expect((await post(old, '?strict=true')).status).toBe(400);
    const query = await stack.call(
      '/api/v1/meters/tokens/query?from=-271821-04-20T00:00:00Z&windowSize=HOUR',
    );
    expect(query.status).toBe(400);
    expect(query.headers.get('content-type')).toBe('application/problem+json');
    expect(((await query.json()) as { errors: { path: string }[] }).errors[0]?.path).toBe('from');
  });
});
