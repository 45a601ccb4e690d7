import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OpenMeter } from '@openmeter/sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTollgate, type Tollgate } from '../../src/app.ts';
import { resolveConfig } from '../../src/config/index.ts';

const ADMIN_TOKEN = 'test-admin-token-0123456789';
let tollgate: Tollgate;
let dataDir: string;
let om: OpenMeter;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'tollgate-om-'));
  const config = resolveConfig(
    {
      upstream: 'http://127.0.0.1:9',
      admin: { token: ADMIN_TOKEN },
      meters: [
        {
          slug: 'tokens',
          name: 'AI tokens',
          eventType: 'tokens',
          aggregation: 'SUM',
          valueProperty: '$.tokens',
          groupBy: { model: '$.model', type: '$.type' },
        },
        { slug: 'requests', eventType: 'request', aggregation: 'COUNT' },
      ],
    },
    'test.config.ts',
    dataDir,
  );
  tollgate = await startTollgate({
    config,
    database: ':memory:',
    dataDir,
    role: 'all',
    gatewayPort: 0,
    consolePort: 0,
  });
  om = new OpenMeter({ baseUrl: tollgate.consoleUrl as string, apiKey: ADMIN_TOKEN });
});

afterAll(async () => {
  await tollgate?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('OpenMeter-compatible API', () => {
  it('works with the official OpenMeter client: ingest a batch, list meters, query a meter', async () => {
    await om.events.ingest([
      {
        type: 'tokens',
        subject: 'cus_sdk',
        time: new Date('2026-02-01T10:05:00Z'),
        data: { tokens: 100, model: 'gpt', type: 'input' },
      },
      {
        type: 'tokens',
        subject: 'cus_sdk',
        time: new Date('2026-02-01T10:06:00Z'),
        data: { tokens: 40, model: 'gpt', type: 'output' },
      },
      {
        type: 'tokens',
        subject: 'cus_sdk',
        time: new Date('2026-02-01T11:00:00Z'),
        data: { tokens: 7, model: 'claude', type: 'input' },
      },
    ]);
    await om.events.ingest({
      id: 'fixed-1',
      source: 'sdk-test',
      type: 'tokens',
      subject: 'cus_other',
      time: new Date('2026-02-01T10:00:00Z'),
      data: { tokens: 1, model: 'gpt', type: 'input' },
    });

    const list = (await om.meters.list()) ?? [];
    expect(list.map((m) => m.slug).sort()).toEqual(['requests', 'tokens']);
    const meter = await om.meters.get('tokens');
    if (!meter) throw new Error('no meter');
    expect(meter).toMatchObject({
      slug: 'tokens',
      aggregation: 'SUM',
      eventType: 'tokens',
      valueProperty: '$.tokens',
    });
    expect(meter.createdAt).toBeInstanceOf(Date);
    expect((await om.meters.get(meter.id))?.slug).toBe('tokens');

    const hourly = await om.meters.query('tokens', {
      from: new Date('2026-02-01T10:00:00Z'),
      to: new Date('2026-02-01T12:00:00Z'),
      windowSize: 'HOUR',
      subject: ['cus_sdk'],
      groupBy: ['model'],
    });
    expect(hourly.windowSize).toBe('HOUR');
    expect(hourly.data.map((r) => [r.windowStart.toISOString(), r.groupBy.model, r.value])).toEqual([
      ['2026-02-01T10:00:00.000Z', 'gpt', 140],
      ['2026-02-01T11:00:00.000Z', 'claude', 7],
    ]);
    const filtered = await om.meters.query('tokens', {
      filterGroupBy: { model: 'gpt', type: 'input' },
      groupBy: ['subject'],
    });
    expect(filtered.data.map((r) => [r.subject, r.value])).toEqual([
      ['cus_other', 1],
      ['cus_sdk', 100],
    ]);
  });

  it('answers 400 problem+json naming the index and field of a bad event, and stores nothing of the batch', async () => {
    const res = await fetch(`${tollgate.consoleUrl}/api/v1/events`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${ADMIN_TOKEN}`,
        'content-type': 'application/cloudevents-batch+json',
      },
      body: JSON.stringify([
        {
          specversion: '1.0',
          id: 'ok-1',
          source: 'bad-batch',
          type: 'tokens',
          subject: 'cus_bad',
          data: { tokens: 5 },
        },
        // A subject that is not a string fails OpenMeter's CloudEvents decoding: the whole request
        // is refused (openmeter/ingest/httpdriver/ingest.go). A missing one is only dropped.
        {
          specversion: '1.0',
          id: 'bad-2',
          source: 'bad-batch',
          type: 'tokens',
          subject: 42,
          data: { tokens: 5 },
        },
      ]),
    });
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    const body = (await res.json()) as { errors: { path: string }[] };
    expect(body.errors.map((e) => e.path)).toEqual(['[1].subject']);
    const after = await om.meters.query('tokens', { subject: ['cus_bad'] });
    expect(after.data).toEqual([]);
  });

  it('refuses what the store cannot hold (U+0000 in a string); drops times before 1970 unless strict', async () => {
    const post = (events: unknown[], query = '') =>
      fetch(`${tollgate.consoleUrl}/api/v1/events${query}`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${ADMIN_TOKEN}`,
          'content-type': 'application/cloudevents-batch+json',
        },
        body: JSON.stringify(events),
      });
    const event = { specversion: '1.0', source: 'limits', type: 'tokens', subject: 'cus_limits' };
    const nul = await post([
      { ...event, id: 'ok', data: { tokens: 1, model: 'gpt' } },
      { ...event, id: 'nul', data: { tokens: 1, model: 'g\u0000pt' } },
    ]);
    expect(nul.status).toBe(400);
    expect(((await nul.json()) as { errors: { path: string }[] }).errors.map((e) => e.path)).toEqual([
      '[1].data.model',
    ]);
    // OpenMeter's sink drops an event whose Unix time is not positive
    // (openmeter/ingest/kafkaingest/serializer/serializer.go); strict ingest refuses it.
    const oldEvent = { ...event, id: 'old', time: '0001-01-01T00:00:00Z', data: { tokens: 1 } };
    expect((await post([oldEvent])).status).toBe(204);
    const old = await post([oldEvent], '?strict=true');
    expect(old.status).toBe(400);
    expect(((await old.json()) as { errors: { path: string; message: string }[] }).errors).toEqual([
      { path: '[0].time', message: 'time must be between 1970-01-01 and 9999-12-31' },
    ]);
    expect((await om.meters.query('tokens', { subject: ['cus_limits'] })).data).toEqual([]);
  });

  it('accepts a single application/cloudevents+json event (204) and refuses a missing or wrong key (401)', async () => {
    const event = {
      specversion: '1.0',
      id: 'single-1',
      source: 'curl',
      type: 'request',
      subject: 'cus_single',
    };
    const ok = await fetch(`${tollgate.consoleUrl}/api/v1/events`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/cloudevents+json' },
      body: JSON.stringify(event),
    });
    expect(ok.status).toBe(204);
    const plain = await fetch(`${tollgate.consoleUrl}/api/v1/events`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify([{ ...event, id: 'single-2' }]),
    });
    expect(plain.status).toBe(204);
    const wrongType = await fetch(`${tollgate.consoleUrl}/api/v1/events`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'text/plain' },
      body: JSON.stringify(event),
    });
    // OpenMeter answers 400 (openmeter/ingest/httpdriver/errors.go), not 415.
    expect(wrongType.status).toBe(400);
    expect(wrongType.headers.get('content-type')).toBe('application/problem+json');
    expect(((await wrongType.json()) as { detail: string }).detail).toMatch(
      /invalid content type: text\/plain/,
    );
    const denied = await fetch(`${tollgate.consoleUrl}/api/v1/events`, {
      method: 'POST',
      headers: { authorization: 'Bearer nope', 'content-type': 'application/cloudevents+json' },
      body: JSON.stringify(event),
    });
    expect(denied.status).toBe(401);
    const res = await fetch(`${tollgate.consoleUrl}/api/v1/meters/requests/query?subject=cus_single`, {
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    expect(((await res.json()) as { data: { value: number }[] }).data[0]?.value).toBe(2);
    const unknown = await fetch(`${tollgate.consoleUrl}/api/v1/meters/nope/query`, {
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    expect(unknown.status).toBe(404);
  });

  it('meters what the gateway appends to the embedded usage log within a second', async () => {
    const log = tollgate.metering.usageLog;
    expect(log).not.toBeNull();
    const started = Date.now();
    await log?.append([
      {
        specversion: '1.0',
        id: 'req_log_1/request',
        source: 'gateway',
        type: 'request',
        subject: 'cus_log',
        time: new Date().toISOString(),
        data: { route: '/x' },
      },
    ]);
    for (;;) {
      const r = await tollgate.metering.reader.query({ meterSlug: 'requests', subject: ['cus_log'] });
      if (r.data[0]?.value === 1) break;
      expect(Date.now() - started).toBeLessThan(1000);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(tollgate.metering.lag()).toBe(0);
    const metrics = await (await fetch(`${tollgate.consoleUrl}/metrics`)).text();
    expect(metrics).toMatch(/tollgate_usage_log_lag 0/);
  });

  it('refuses bad meter config at start-up with the field and what would be right', () => {
    const bad = (meter: Record<string, unknown>) => () =>
      resolveConfig({ upstream: 'http://127.0.0.1:9', meters: [meter] }, 'bad.config.ts', dataDir);
    expect(bad({ slug: 'x', eventType: 'x', aggregation: 'SUM' })).toThrow(
      /meters\[0\]\.valueProperty: aggregation SUM needs a valueProperty/,
    );
    expect(bad({ slug: 'x', eventType: 'x', aggregation: 'COUNT', groupBy: { subject: '$.who' } })).toThrow(
      /meters\[0\]\.groupBy\.subject: "subject" is reserved/,
    );
    expect(bad({ slug: 'x', eventType: 'x', aggregation: 'SUM', valueProperty: 'tokens' })).toThrow(
      /JSONPath/,
    );
    expect(bad({ slug: 'x', eventType: 'x', aggregation: 'MEDIAN' })).toThrow(/meters\[0\]\.aggregation/);
  });
});
