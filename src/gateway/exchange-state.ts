import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { Dispatcher } from 'undici';
import type { VerifiedKey } from '../keys/model.ts';
import type { UsageEvent } from '../metering/events.ts';
import type { QuotaResult, QuotaSpec, RateLimitResult, RateLimitSpec } from '../ratelimit/types.ts';
import type { AccessView, QuotaView } from '../subscriptions/access.ts';
import type { Logger } from '../util/log.ts';
import type { BatchingUsageLog } from './batch-log.ts';
import type { GatewayState } from './compiled-config.ts';
import type { CreditHold } from './credits.ts';
import type { GatewayMetrics } from './metrics.ts';
import type { GatewayContext } from './policy-context.ts';
import type { CompiledRoute, Upstream } from './router.ts';
import type { GatewayServices, RequestState } from './steps/index.ts';
import type { SseUsageScanner } from './token-usage.ts';

/**
 * What one exchange uses of its gateway (`Gateway` in server.ts has all of it): the steps'
 * services, plus the upstream pools, the usage log, metrics and logging. Declared here so that
 * the exchange and the helpers that read it need not import the gateway, which creates exchanges.
 */
export interface ExchangeGateway extends GatewayServices {
  readonly log: Logger;
  /** CloudEvents `source` of gateway events. */
  readonly source: string;
  readonly debug: boolean;
  readonly metrics: GatewayMetrics;
  readonly batchedLog: BatchingUsageLog | null;
  pool(upstream: Upstream): Dispatcher;
}

/**
 * The state of one request through the gateway: what the request steps fill (`steps/`), then what
 * the upstream call, streaming and completion keep (`upstream-exchange.ts` adds the behaviour).
 * Apart from the exchange's behaviour so that the helpers reading it (`own-responses.ts`,
 * `usage-events.ts`) depend on the state only, not on the exchange that uses them.
 */
export abstract class ExchangeState implements RequestState {
  readonly gw: ExchangeGateway;
  readonly state: GatewayState;
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly started: number;
  readonly requestId: string;
  path = '';
  search = '';
  route: CompiledRoute | null = null;
  params: Record<string, string> | null = null;
  key: VerifiedKey | null = null;
  authHeader = '';
  view: AccessView | null = null;
  rateSpec: RateLimitSpec | null = null;
  rate: RateLimitResult | null = null;
  quotaView: QuotaView | null = null;
  quotaSpec: QuotaSpec | null = null;
  quota: QuotaResult | null = null;
  ctx: GatewayContext | null = null;
  controller: Dispatcher.DispatchController | null = null;
  status = 0;
  proxied = false;
  clientGone = false;
  done = false;
  /** Response headers waiting for outbound policies; chunks received meanwhile. */
  holding: Buffer[] | null = null;
  ended = false;
  metered = false;
  /**
   * With a Content-Length the client knows the body is complete at its last byte, so the last
   * chunk of a metered response is held until the usage events are in the log (chunked responses
   * complete only with res.end(), so nothing is held back for them: SSE is never delayed).
   */
  holdLast = false;
  last: Buffer | null = null;
  /**
   * With `holdLast`, the response head waits for the first byte actually written: while nothing
   * went out, a response whose usage cannot be recorded is answered 503 instead of cut off.
   */
  head: Record<string, string | string[]> | null = null;
  json: Buffer[] | null = null;
  jsonBytes = 0;
  sse: SseUsageScanner | null = null;
  /** The request body as received, when it was read to learn the model (model-gated routes). */
  body: Buffer | null = null;
  /** The same body decoded (`Content-Encoding`), what the model and credit estimate read. */
  decodedBody: Buffer | null = null;
  model: string | null = null;
  /** This response's usage events, while they are being appended. */
  events: UsageEvent[] | null = null;
  /** Credits reserved for this call (credits-only customers), settled when it is over. */
  creditHold: CreditHold | null = null;
  /** The usage events are in the log: what the call is charged for. */
  recorded = false;
  /** A chunked request body passed `gateway.limits.bodyBytes` on its way upstream. */
  bodyTooLarge = false;

  constructor(gw: ExchangeGateway, state: GatewayState, req: IncomingMessage, res: ServerResponse) {
    this.gw = gw;
    this.state = state;
    this.req = req;
    this.res = res;
    this.started = performance.now();
    this.requestId = randomUUID();
  }

  /** `ctx` of policies (built on first use). */
  abstract context(): GatewayContext;
  /** Answers with an inbound policy's Response. */
  abstract respond(response: Response): Promise<void>;
  /** A request that will not be metered does not use up quota. */
  abstract refundQuota(): void;
  /** Settles credits, records metrics and the debug log line of a finished request. */
  abstract observe(status: number): void;
}
