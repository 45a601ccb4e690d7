import type { IncomingHttpHeaders } from 'node:http';
import { performance } from 'node:perf_hooks';
import { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { ProblemError, problems } from '../http/problem.ts';
import type { UsageEvent } from '../metering/events.ts';
import type { AppendWaiter, BatchingUsageLog } from './batch-log.ts';
import { isPromise, MAX_JSON_BODY } from './compiled-config.ts';
import type { GatewayCredits } from './credits.ts';
import { ExchangeState } from './exchange-state.ts';
import {
  addOwnHeaders,
  problem,
  runOutboundPolicies,
  sendWebResponse,
  upstreamTimeout,
  upstreamUnavailable,
  usageNotRecorded,
} from './own-responses.ts';
import { GatewayContext, RequestInfo } from './policy-context.ts';
import { bodyTooLarge, cappedBody } from './request-body.ts';
import type { CompiledRoute } from './router.ts';
import { GATEWAY_STEPS, runSteps, type StepEnds } from './steps/index.ts';
import { SseUsageScanner } from './token-usage.ts';
import { clientResponseHeaders, upstreamRequestHeaders } from './upstream-headers.ts';
import { addTokenQuotas, usageEvents } from './usage-events.ts';

/** How the request steps end: every step went on → the upstream call; a problem → its answer. */
const STEP_ENDS: StepEnds = {
  done: (request) => (request as Exchange).proxy(),
  problem: (request, answer) => problem(request as Exchange, answer),
};

/**
 * One request through the gateway: the request steps (`steps/`) fill its state
 * (`exchange-state.ts`), then the upstream call, outbound policies, streaming and completion. It
 * is also the undici dispatch handler of its upstream request, so a proxied request allocates one
 * object for the whole exchange; that is why the upstream call and completion stay in this one
 * class, while its state, headers, answers and steps live in their own files.
 */
export class Exchange extends ExchangeState implements Dispatcher.DispatchHandler, AppendWaiter {
  run(): void {
    try {
      const result = runSteps(GATEWAY_STEPS, this, STEP_ENDS);
      if (result !== undefined) result.catch((error: unknown) => this.fail(error));
    } catch (error) {
      this.fail(error);
    }
  }

  respond(response: Response): Promise<void> {
    return sendWebResponse(this, response);
  }

  context(): GatewayContext {
    if (this.ctx === null) {
      const view = this.view;
      this.ctx = new GatewayContext({
        requestId: this.requestId,
        request: new RequestInfo(this.req, this.path, this.search, this.params ?? {}),
        route: (this.route as CompiledRoute).info,
        key: this.key,
        customer: view?.customer ?? null,
        subscription: view?.subscription ?? null,
        entitlements: view?.entitlements,
        log: this.gw.log,
      });
    }
    return this.ctx;
  }

  proxy(): void {
    const req = this.req;
    const res = this.res;
    const route = this.route as CompiledRoute;
    const upstream = route.upstream;
    const source = req.headers;
    const headers = upstreamRequestHeaders(source, {
      authHeader: this.authHeader,
      clientIp: req.socket.remoteAddress ?? '',
      requestId: this.requestId,
      key: this.key,
      plan: this.view?.subscription?.plan.key,
    });
    const length = source['content-length'];
    const hasBody = length !== undefined ? length !== '0' : source['transfer-encoding'] !== undefined;
    this.proxied = true;
    res.on('close', () => this.onClientClose());
    this.gw.pool(upstream).dispatch(
      {
        // Exactly the path that was matched (normalised by the route step), never the raw one.
        path: upstream.basePath + this.target(),
        method: (req.method ?? 'GET') as Dispatcher.HttpMethod,
        headers,
        body: this.body ?? (!hasBody ? null : length !== undefined ? req : this.cappedBody()),
        headersTimeout: upstream.timeoutMs,
      },
      this,
    );
  }

  /** A chunked request body, stopped at `gateway.limits.bodyBytes` (a Content-Length was checked up front). */
  cappedBody(): Readable {
    return Readable.from(
      cappedBody(this.req as AsyncIterable<Buffer>, this.state.bodyBytes, () => {
        this.bodyTooLarge = true;
      }),
      { objectMode: false },
    );
  }

  /** The normalised path and the query as received. */
  target(): string {
    return this.search === '' ? this.path : `${this.path}?${this.search}`;
  }

  onClientClose(): void {
    if (this.res.writableFinished || this.done) return;
    this.clientGone = true;
    this.controller?.abort(new Error('client closed the connection'));
  }

  // --- undici dispatch handler ---

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.clientGone) controller.abort(new Error('client closed the connection'));
  }

  onResponseStart(
    controller: Dispatcher.DispatchController,
    statusCode: number,
    upstreamHeaders: IncomingHttpHeaders,
  ): void {
    this.status = statusCode;
    const headers = clientResponseHeaders(upstreamHeaders);
    addOwnHeaders(this, headers);
    const state = this.state;
    this.metered = this.key !== null && this.gw.batchedLog !== null && state.counts(statusCode);
    if (this.metered && (state.aiUsage || state.hook !== undefined)) {
      const type = upstreamHeaders['content-type'];
      // Compressed bodies are passed through untouched and not inspected for token usage.
      const encoding = upstreamHeaders['content-encoding'];
      if (typeof type === 'string' && (encoding === undefined || encoding === 'identity')) {
        if (type.includes('text/event-stream')) this.sse = new SseUsageScanner();
        else if (type.includes('json')) this.json = [];
      }
    }
    this.holdLast = this.metered && upstreamHeaders['content-length'] !== undefined;
    const outbound = this.route?.outbound ?? [];
    if (state.outbound.length === 0 && outbound.length === 0) {
      this.sendHead(headers);
      return;
    }
    this.holding = [];
    controller.pause();
    runOutboundPolicies(this.context(), [...state.outbound, ...outbound], statusCode, headers).then(
      () => {
        if (this.clientGone) return;
        this.sendHead(headers);
        const held = this.holding ?? [];
        this.holding = null;
        for (const chunk of held) this.forward(chunk);
        controller.resume();
        if (this.ended) this.finish();
      },
      (error: unknown) => {
        controller.abort(error instanceof Error ? error : new Error(String(error)));
        this.holding = null;
        this.fail(error);
      },
    );
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.clientGone) return;
    if (this.json !== null) {
      this.jsonBytes += chunk.length;
      if (this.jsonBytes > MAX_JSON_BODY) this.json = null;
      else this.json.push(chunk);
    }
    if (this.holding !== null) {
      this.holding.push(chunk);
    } else if (!this.forward(chunk)) {
      controller.pause();
      this.res.once('drain', () => controller.resume());
    }
    // Scanned after the chunk was handed to the client: extraction never delays a stream.
    if (this.sse !== null) this.sse.push(chunk);
  }

  sendHead(headers: Record<string, string | string[]>): void {
    if (this.holdLast) this.head = headers;
    else this.res.writeHead(this.status, headers);
  }

  flushHead(): void {
    const head = this.head;
    if (head === null) return;
    this.head = null;
    this.res.writeHead(this.status, head);
  }

  forward(chunk: Buffer): boolean {
    if (!this.holdLast) return this.res.write(chunk);
    const previous = this.last;
    this.last = chunk;
    if (previous === null) return true;
    this.flushHead();
    return this.res.write(previous);
  }

  onResponseEnd(): void {
    this.ended = true;
    if (this.holding !== null) return; // outbound policies still running; they finish
    this.finish();
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    this.refundQuota();
    if (this.clientGone) {
      this.observe(499);
      return;
    }
    if (this.res.headersSent) {
      this.gw.log.error({ err: error, requestId: this.requestId }, 'upstream failed mid-response');
      this.done = true;
      this.res.destroy(error);
      this.observe(this.status);
      return;
    }
    if (this.bodyTooLarge) {
      void problem(this, bodyTooLarge(this.state.bodyBytes));
      return;
    }
    const code = (error as { code?: string }).code;
    if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT') {
      void problem(this, upstreamTimeout(this.route?.upstream.timeoutMs ?? 0));
      return;
    }
    this.gw.log.error(
      { err: error, requestId: this.requestId, upstream: this.route?.upstream.origin },
      'upstream unreachable',
    );
    void problem(this, upstreamUnavailable());
  }

  // --- completion ---

  /**
   * Completes the response: for a metered one, the usage events are appended to the log first
   * (awaited when the log is asynchronous), and only then is the last byte written. Synchronous
   * end to end when the log is (embedded) and no metering hook is set.
   */
  finish(): void {
    if (this.done) return;
    if (!this.metered) {
      this.refundQuota();
      this.end();
      return;
    }
    let events: UsageEvent[] | Promise<UsageEvent[]>;
    try {
      events = usageEvents(this);
    } catch (error) {
      this.meteringFailed(error);
      return;
    }
    if (isPromise(events)) {
      events.then(
        (list) => this.record(list),
        (error: unknown) => this.meteringFailed(error),
      );
      return;
    }
    this.record(events);
  }

  record(events: UsageEvent[]): void {
    if (events.length === 0) {
      this.end();
      return;
    }
    this.events = events;
    try {
      (this.gw.batchedLog as BatchingUsageLog).enqueue(events, this);
    } catch (error) {
      this.meteringFailed(error);
    }
  }

  /** The usage log's answer ({@link AppendWaiter}): the events are in the log, or could not be appended. */
  appended(error: unknown): void {
    if (error !== undefined) {
      this.meteringFailed(error);
      return;
    }
    this.recorded = true;
    addTokenQuotas(this, this.events as UsageEvent[]);
    this.end();
  }

  end(): void {
    if (this.done) return;
    this.done = true;
    const last = this.last;
    this.last = null;
    this.flushHead();
    if (last !== null) this.res.end(last);
    else this.res.end();
    this.observe(this.status);
  }

  /**
   * Not recorded (e.g. JetStream did not acknowledge within `scaleOut.usageAckTimeoutMs`) → not
   * delivered and not counted: the quota is given back, and the client gets 503 with Retry-After
   * while nothing of the response went out, else a broken response, never a free one.
   */
  meteringFailed(error: unknown): void {
    this.refundQuota();
    if (this.head !== null && !this.res.headersSent) {
      this.gw.log.error({ err: error, requestId: this.requestId }, 'could not record usage; answered 503');
      this.head = null;
      this.last = null;
      problem(this, usageNotRecorded());
      return;
    }
    this.gw.log.error({ err: error, requestId: this.requestId }, 'could not record usage; response aborted');
    this.done = true;
    this.res.destroy(error instanceof Error ? error : new Error(String(error)));
    this.observe(500);
  }

  /** A request that will not be metered does not use up quota. */
  refundQuota(): void {
    const view = this.quotaView;
    const spec = this.quotaSpec;
    if (view === null || spec === null || this.quota === null || !this.quota.allowed) return;
    this.quota = null;
    try {
      const result = this.gw.counters.add(view.counterKey, -1, spec);
      if (isPromise(result))
        result.catch((error) => this.gw.log.error({ err: error }, 'quota refund failed'));
    } catch (error) {
      this.gw.log.error({ err: error }, 'quota refund failed');
    }
  }

  fail(error: unknown): void {
    if (error instanceof ProblemError) {
      problem(this, error);
      return;
    }
    this.gw.log.error({ err: error, requestId: this.requestId, path: this.path }, 'gateway error');
    this.refundQuota();
    if (this.res.headersSent) {
      this.done = true;
      this.res.destroy();
      this.settleCredits();
      return;
    }
    problem(this, problems.internal());
  }

  /** Books what the call cost against its reservation: its usage if it was metered, else nothing. */
  settleCredits(): void {
    const hold = this.creditHold;
    if (hold === null) return;
    this.creditHold = null;
    (this.gw.credits as GatewayCredits).settle(hold, this.recorded ? this.events : null);
  }

  observe(status: number): void {
    this.settleCredits();
    const seconds = (performance.now() - this.started) / 1000;
    this.gw.metrics.observe(status, seconds, this.proxied);
    if (this.gw.debug) {
      this.gw.log.debug(
        {
          requestId: this.requestId,
          method: this.req.method,
          path: this.path,
          route: this.route?.path,
          status,
          ms: Math.round(seconds * 100_000) / 100,
          key: this.key?.id,
        },
        'request',
      );
    }
  }
}
