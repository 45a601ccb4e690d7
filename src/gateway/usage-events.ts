import { performance } from 'node:perf_hooks';
import type { UsageEventInput } from '../config/index.ts';
import type { VerifiedKey } from '../keys/model.ts';
import type { UsageEvent } from '../metering/events.ts';
import type { QuotaView } from '../subscriptions/access.ts';
import { isPromise } from './compiled-config.ts';
import type { ExchangeState } from './exchange-state.ts';
import { amountOf } from './feature-meters.ts';
import { quotaSpecOf } from './quota-spec.ts';
import type { CompiledRoute } from './router.ts';
import { type TokenUsage, tokensFromJson } from './token-usage.ts';

/** The usage events of a metered response, and the quotas they add to once they are in the log. */

const EMPTY_QUOTAS: Record<string, QuotaView> = Object.freeze({}) as Record<string, QuotaView>;

let isoMs = 0;
let isoText = '';
/** RFC 3339 time of now, formatted once per millisecond (usage events of a busy gateway share it). */
function nowIso(): string {
  const ms = Date.now();
  if (ms !== isoMs) {
    isoMs = ms;
    isoText = new Date(ms).toISOString();
  }
  return isoText;
}

export function usageEvents(ex: ExchangeState): UsageEvent[] | Promise<UsageEvent[]> {
  const key = ex.key as VerifiedKey;
  const route = ex.route as CompiledRoute;
  const latencyMs = Math.round((performance.now() - ex.started) * 100) / 100;
  let tokens: TokenUsage | null = null;
  let body: unknown = null;
  if (ex.json !== null && ex.jsonBytes > 0) {
    const buffer = ex.json.length === 1 ? (ex.json[0] as Buffer) : Buffer.concat(ex.json);
    if (ex.state.hook !== undefined || buffer.includes('"usage"')) {
      try {
        body = JSON.parse(buffer.toString('utf8'));
      } catch {
        body = null;
      }
      if (ex.state.aiUsage) tokens = tokensFromJson(body);
    }
  } else if (ex.sse !== null) {
    tokens = ex.state.aiUsage ? ex.sse.result() : null;
    body = ex.sse.lastUsageChunk;
  }
  const hook = ex.state.hook;
  if (tokens === null && hook === undefined) {
    // The common case, built directly (same event as toEvents would make).
    return [
      {
        specversion: '1.0',
        id: `${ex.requestId}/request`,
        source: ex.gw.source,
        type: 'request',
        subject: key.customerId,
        time: nowIso(),
        datacontenttype: 'application/json',
        data: {
          route: route.path,
          method: route.method === '*' ? ex.req.method : route.method,
          status: ex.status,
          latencyMs,
          key: key.id,
        },
      },
    ];
  }
  const inputs: UsageEventInput[] = [
    {
      type: 'request',
      data: {
        route: route.path,
        method: route.method === '*' ? ex.req.method : route.method,
        status: ex.status,
        latencyMs,
        key: key.id,
      },
    },
  ];
  if (tokens !== null) {
    const { model } = tokens;
    inputs.push({
      type: 'tokens',
      data: { tokens: tokens.input, model, type: 'input', key: key.id, route: route.path },
    });
    inputs.push({
      type: 'tokens',
      data: { tokens: tokens.output, model, type: 'output', key: key.id, route: route.path },
    });
    if (tokens.cached > 0) {
      inputs.push({
        type: 'tokens',
        data: { tokens: tokens.cached, model, type: 'cached', key: key.id, route: route.path },
      });
    }
  }
  if (hook === undefined) return toEvents(ex, inputs, false);
  return Promise.resolve(hook(ex.context(), { status: ex.status, body, events: inputs })).then((out) =>
    Array.isArray(out) ? toEvents(ex, out, true) : toEvents(ex, inputs, false),
  );
}

/** CloudEvents with deterministic ids: `<requestId>/request`, `<requestId>/tokens/<type>`, or `<requestId>/<type>/<i>` for hook events. */
function toEvents(ex: ExchangeState, inputs: readonly UsageEventInput[], fromHook: boolean): UsageEvent[] {
  const time = nowIso();
  const subject = (ex.key as VerifiedKey).customerId;
  const source = ex.gw.source;
  const requestId = ex.requestId;
  return inputs.map((input, i) => ({
    specversion: '1.0',
    id: fromHook
      ? `${requestId}/${input.type}/${i}`
      : input.type === 'request'
        ? `${requestId}/request`
        : `${requestId}/tokens/${String(input.data.type)}`,
    source,
    type: input.type,
    subject: input.subject ?? subject,
    time,
    datacontenttype: 'application/json',
    data: input.data,
  }));
}

/** Token (and other post-response) quotas: added after the fact, so overshoot ≤ requests in flight. */
export function addTokenQuotas(ex: ExchangeState, events: readonly UsageEvent[]): void {
  const quotas = ex.view?.quotas ?? EMPTY_QUOTAS;
  for (const featureKey in quotas) {
    if (featureKey === ex.route?.feature) continue;
    const quota = quotas[featureKey] as QuotaView;
    const meter = ex.state.featureMeters.get(featureKey);
    if (meter === undefined) continue;
    let amount = 0;
    for (const event of events) amount += amountOf(meter, event.type, event.data);
    if (amount === 0) continue;
    const spec = quotaSpecOf(ex.gw, ex.view?.customer.id ?? '', quota);
    try {
      const r = ex.gw.counters.add(quota.counterKey, amount, spec);
      if (isPromise(r)) r.catch((error) => ex.gw.log.error({ err: error }, 'token quota update failed'));
    } catch (error) {
      ex.gw.log.error({ err: error }, 'token quota update failed');
    }
  }
}
