import { describe, expect, it } from 'vitest';
import type { UsageEvent } from '../metering/events.ts';
import { BatchingUsageLog } from './batch-log.ts';

const event = (id: string): UsageEvent => ({
  specversion: '1.0',
  id,
  source: 'test',
  type: 'request',
  subject: 'cus',
  time: '2026-01-01T00:00:00.000Z',
  data: {},
});

describe('BatchingUsageLog', () => {
  it('appends the events of one event-loop turn with one call, and only then resolves', async () => {
    const calls: string[][] = [];
    const log = new BatchingUsageLog({
      append: (events) => {
        calls.push(events.map((e) => e.id));
      },
      close: async () => {},
    });
    let resolved = 0;
    const waits = ['a', 'b', 'c'].map((id) => log.append([event(id)]).then(() => resolved++));
    expect(calls).toEqual([]);
    await Promise.resolve();
    expect(resolved).toBe(0);
    await Promise.all(waits);
    expect(calls).toEqual([['a', 'b', 'c']]);
    await log.append([event('d')]);
    expect(calls).toEqual([['a', 'b', 'c'], ['d']]);
  });

  it('rejects every waiter of a failed batch', async () => {
    const log = new BatchingUsageLog({
      append: async () => {
        throw new Error('disk full');
      },
      close: async () => {},
    });
    const results = await Promise.allSettled([log.append([event('a')]), log.append([event('b')])]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
  });
});
