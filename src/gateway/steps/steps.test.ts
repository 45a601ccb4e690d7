import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { resolveConfig } from '../../config/index.ts';
import { ProblemError } from '../../http/problem.ts';
import type { VerifiedKey } from '../../keys/model.ts';
import { MemoryCounterStore } from '../../ratelimit/memory.ts';
import type { AccessView } from '../../subscriptions/access.ts';
import { compileState } from '../compiled-config.ts';
import { authenticate } from './authenticate.ts';
import { ANSWERED, type RequestState, runSteps, type Step } from './index.ts';
import { limitRate } from './rate-limit.ts';
import { routeRequest } from './route.ts';

/** Each step alone, on a request state built by hand: no listener, no upstream. */
const config = resolveConfig(
  {
    upstream: 'http://127.0.0.1:1',
    routes: [
      { method: 'GET', path: '/v1/items/{id}' },
      { method: 'GET', path: '/v1/health', public: true },
    ],
  },
  'steps.config.ts',
  '/tmp',
);

function requestState(req: Partial<IncomingMessage>, over: Partial<RequestState> = {}): RequestState {
  return {
    req: {
      method: 'GET',
      url: '/',
      headers: {},
      socket: { remoteAddress: '127.0.0.1' },
      ...req,
    } as IncomingMessage,
    state: compileState(config),
    gw: {
      verifier: {
        verify: (raw: string) => (raw === 'good' ? ({ id: 'k1', customerId: 'c1' } as VerifiedKey) : null),
      },
      access: { resolve: () => ({}) as AccessView },
      counters: new MemoryCounterStore(),
      quotaSeed: async () => 0,
      credits: null,
      gatesFeatures: false,
    } as unknown as RequestState['gw'],
    path: '',
    search: '',
    route: null,
    params: null,
    key: null,
    authHeader: '',
    view: null,
    rateSpec: null,
    rate: null,
    quotaView: null,
    quotaSpec: null,
    quota: null,
    body: null,
    decodedBody: null,
    model: null,
    creditHold: null,
    context: () => {
      throw new Error('no policies here');
    },
    respond: async () => {},
    ...over,
  };
}

describe('route step', () => {
  it('matches the normalised path and keeps the query', () => {
    const request = requestState({ url: '/v1/items/x/../7?q=1' });
    expect(routeRequest(request)).toBeUndefined();
    expect([request.path, request.search, request.route?.path, request.params]).toEqual([
      '/v1/items/7',
      'q=1',
      '/v1/items/{id}',
      { id: '7' },
    ]);
  });

  it('answers 404, 405 (with Allow) and 400 for a path it refuses', () => {
    expect((routeRequest(requestState({ url: '/nope' })) as ProblemError).status).toBe(404);
    const wrongMethod = routeRequest(requestState({ method: 'DELETE', url: '/v1/items/1' })) as ProblemError;
    expect([wrongMethod.status, wrongMethod.headers]).toEqual([405, { allow: 'GET, HEAD' }]);
    expect((routeRequest(requestState({ url: '/v1/items/%2f' })) as ProblemError).status).toBe(400);
  });
});

describe('authenticate step', () => {
  it('takes the key from Authorization or x-api-key, refuses a missing or wrong one, skips public routes', () => {
    const bearer = requestState({ headers: { authorization: 'Bearer good' } }, { route: null });
    expect(authenticate(bearer)).toBeUndefined();
    expect([bearer.key?.id, bearer.authHeader]).toEqual(['k1', 'authorization']);
    const header = requestState({ headers: { 'x-api-key': 'good' } });
    expect(authenticate(header)).toBeUndefined();
    expect(header.authHeader).toBe('x-api-key');
    expect((authenticate(requestState({})) as ProblemError).status).toBe(401);
    expect(
      (authenticate(requestState({ headers: { authorization: 'Bearer bad' } })) as ProblemError).status,
    ).toBe(401);
    const open = requestState({ url: '/v1/health' });
    routeRequest(open);
    expect(authenticate(open)).toBeUndefined();
    expect(open.key).toBeNull();
  });
});

describe('rate-limit step', () => {
  it('answers synchronously on memory counters and refuses past the limit with Retry-After', () => {
    const counters = new MemoryCounterStore();
    const base = requestState({});
    const gw = { ...base.gw, counters };
    const key = { id: 'k1', customerId: 'c1' } as VerifiedKey;
    const view = { rateLimit: { limit: 2, windowMs: 60_000 }, upgradeUrl: 'u' } as unknown as AccessView;
    const results = [0, 1, 2].map(() => limitRate(requestState({}, { gw, key, view })));
    expect(results.slice(0, 2)).toEqual([undefined, undefined]);
    const refused = results[2] as ProblemError;
    expect([refused.status, refused.type]).toEqual([429, 'rate-limited']);
    const retryAfter = Number(refused.headers?.['retry-after']);
    expect(retryAfter > 0 && retryAfter <= 30).toBe(true);
  });
});

describe('runSteps', () => {
  const order: string[] = [];
  const step =
    (name: string, result?: ProblemError | typeof ANSWERED, wait = false): Step =>
    () => {
      order.push(name);
      return wait ? Promise.resolve(result) : result;
    };
  const ends = (log: string[]) => ({
    done: () => log.push('done'),
    problem: (_r: RequestState, p: ProblemError) => log.push(`problem ${p.status}`),
  });

  it('runs synchronously when no step waits (no promise), in order, then ends', () => {
    order.length = 0;
    const log: string[] = [];
    expect(runSteps([step('a'), step('b')], requestState({}), ends(log))).toBeUndefined();
    expect([...order, ...log]).toEqual(['a', 'b', 'done']);
  });

  it('goes on after a step that waits, and stops at the first answer', async () => {
    order.length = 0;
    const log: string[] = [];
    const gone = new ProblemError({ status: 410, type: 'gone', title: 'Gone' });
    const result = runSteps(
      [step('a', undefined, true), step('b', gone), step('c')],
      requestState({}),
      ends(log),
    );
    expect(result).toBeInstanceOf(Promise);
    await result;
    expect([...order, ...log]).toEqual(['a', 'b', 'problem 410']);
  });

  it('a step that answered itself ends the run without another answer', async () => {
    order.length = 0;
    const log: string[] = [];
    await runSteps([step('a', ANSWERED, true), step('b')], requestState({}), ends(log));
    expect([...order, ...log]).toEqual(['a']);
  });
});
