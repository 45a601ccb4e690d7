import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type OmStack, startOmStack } from '../metering/om-stack.ts';

/**
 * Property-based fuzzing of `POST /api/v1/events` over real HTTP (issue 12): random CloudEvents
 * and batches, valid and broken, under every content type. Whatever is sent, the answer is a 204
 * or a 4xx problem+json (never a 5xx, never a dropped connection), a refused batch leaves nothing
 * behind, and an accepted one stores each distinct (source, id) once.
 * Fixed seed for the suite; for a longer local run: FUZZ_RUNS=2000 npx vitest run <this file>.
 */
let stack: OmStack;

beforeAll(async () => {
  stack = await startOmStack();
}, 180_000);

afterAll(async () => {
  await stack?.stop();
});

const RUNS = Number(process.env.FUZZ_RUNS ?? 100);

/** Any JSON value, sometimes deep, with strings that include NUL and brackets. */
const anyJson = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', maxDepth: 6 },
    fc.string({ unit: fc.constantFrom('a', '{', '"', '\\', '\u0000', 'é', ' ') }),
    fc.double(),
    fc.integer(),
    fc.boolean(),
    fc.constant(null),
    fc.array(tie('value'), { maxLength: 3 }),
    fc.dictionary(fc.string({ maxLength: 4 }), tie('value'), { maxKeys: 3 }),
  ),
})).value;

const meterValue = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: -1_000_000, max: 1_000_000 }) },
  { weight: 2, arbitrary: fc.double() },
  { weight: 2, arbitrary: fc.constantFrom(1e308, -1e308, 1e15, 1e16, -0, '60', ' 7 ', '1e400', 'lots', '') },
  { weight: 1, arbitrary: anyJson },
);

/** A field that is usually right and sometimes anything at all. */
const usually = <T>(good: fc.Arbitrary<T>) =>
  fc.oneof(
    { weight: 120, arbitrary: good },
    { weight: 1, arbitrary: anyJson },
    { weight: 1, arbitrary: fc.constant(undefined) },
  );

const event = (run: number) =>
  fc.record({
    specversion: usually(fc.constant('1.0')),
    id: usually(fc.constantFrom('a', 'b', 'c', 'd')),
    source: usually(fc.constant(`fuzz-${run}`)),
    type: usually(fc.constantFrom('tokens', 'request', 'upload', 'adjustment', 'other')),
    subject: usually(fc.constant(`fz-${run}`)),
    time: usually(
      fc.oneof(
        {
          weight: 30,
          arbitrary: fc
            .date({
              min: new Date('1970-01-01T00:00:00Z'),
              max: new Date('9999-12-31T23:59:59Z'),
              noInvalidDate: true,
            })
            .map((d) => d.toISOString()),
        },
        {
          weight: 1,
          arbitrary: fc.constantFrom(
            '0001-01-01T00:00:00Z',
            '2026-02-30T00:00:00Z',
            '+275760-09-13T00:00:00Z',
            'yesterday',
          ),
        },
      ),
    ),
    data: usually(
      fc.record(
        {
          tokens: meterValue,
          model: usually(fc.constantFrom('a', 'b')),
          bytes: meterValue,
          amount: meterValue,
          x: fc.oneof({ weight: 5, arbitrary: fc.string() }, { weight: 1, arbitrary: anyJson }),
        },
        { requiredKeys: [] },
      ),
    ),
  });

const contentTypes = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom('application/cloudevents-batch+json', 'application/json') },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      'application/cloudevents+json',
      'application/json; charset=utf-8',
      'text/plain',
      '',
    ),
  },
);

let run = 0;

describe('ingest fuzzing', () => {
  it('answers 204 or a 4xx problem+json, and stores all of an accepted batch or nothing of a refused one', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 1_000_000 }).chain(() => {
          run += 1;
          const n = run;
          return fc.record({
            run: fc.constant(n),
            events: fc.oneof(
              { weight: 1, arbitrary: fc.constant([]) },
              { weight: 9, arbitrary: fc.array(event(n), { minLength: 1, maxLength: 6 }) },
            ),
            single: fc.oneof(
              { weight: 7, arbitrary: fc.constant(false) },
              { weight: 1, arbitrary: fc.constant(true) },
            ),
            contentType: contentTypes,
            cut: fc.oneof(
              { weight: 9, arbitrary: fc.constant(undefined) },
              { weight: 1, arbitrary: fc.nat() },
            ),
            strict: fc.oneof(
              { weight: 4, arbitrary: fc.constant(false) },
              { weight: 1, arbitrary: fc.constant(true) },
            ),
          });
        }),
        async ({ run: n, events, single, contentType, cut, strict }) => {
          let body = JSON.stringify(single && events.length > 0 ? events[0] : events);
          if (cut !== undefined) body = body.slice(0, cut % (body.length + 1));
          const res = await stack.call(`/api/v1/events${strict ? '?strict=true' : ''}`, {
            method: 'POST',
            headers: contentType ? { 'content-type': contentType } : {},
            body,
          });
          const stored = await stack.tollgate.metering.listEvents({ subject: `fz-${n}`, limit: 100 });
          if (res.status === 204) {
            const sent = single && events.length > 0 ? [events[0]] : events;
            // Events without id, source, type or subject, or timed before 1970, are dropped unless
            // the request is strict (as OpenMeter's sink drops them).
            const kept = sent.filter(
              (e) =>
                strict ||
                (['id', 'source', 'type', 'subject'].every((f) => e?.[f as keyof typeof e]) &&
                  (typeof e?.time !== 'string' || Date.parse(e.time) >= 1000)),
            );
            const distinct = new Set(kept.map((e) => `${String(e?.source)}\u0000${String(e?.id)}`));
            expect(stored.length).toBe(distinct.size);
            return;
          }
          expect(res.status).toBeGreaterThanOrEqual(400);
          expect(res.status).toBeLessThan(500);
          expect(res.headers.get('content-type')).toBe('application/problem+json');
          const problem = (await res.json()) as { status: number; title: string };
          expect(problem.status).toBe(res.status);
          expect(stored).toEqual([]);
        },
      ),
      { seed: 42, numRuns: RUNS },
    );
  }, 240_000);
});
