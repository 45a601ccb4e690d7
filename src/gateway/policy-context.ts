import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type {
  CustomerInfo,
  EntitlementInfo,
  GatewayRequestInfo,
  KeyInfo,
  PolicyContext,
  SubscriptionInfo,
} from '../config/index.ts';
import type { Logger } from '../util/log.ts';
import type { RouteInfo } from './router.ts';

/** `ctx.request` for policies; the query string is parsed only when a policy reads it. */
export class RequestInfo implements GatewayRequestInfo {
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  readonly params: Readonly<Record<string, string>>;
  readonly ip: string;
  readonly #search: string;
  #query: URLSearchParams | null = null;

  constructor(req: IncomingMessage, path: string, search: string, params: Record<string, string>) {
    this.method = req.method ?? 'GET';
    this.path = path;
    this.headers = req.headers;
    this.params = params;
    this.ip = req.socket.remoteAddress ?? '';
    this.#search = search;
  }

  get query(): URLSearchParams {
    if (this.#query === null) this.#query = new URLSearchParams(this.#search);
    return this.#query;
  }
}

const NO_ENTITLEMENTS: Readonly<Record<string, EntitlementInfo>> = Object.freeze({});

export interface ContextInit {
  requestId: string;
  request: GatewayRequestInfo;
  route: RouteInfo;
  key: KeyInfo | null;
  customer: CustomerInfo | null;
  subscription: SubscriptionInfo | null;
  entitlements: Readonly<Record<string, EntitlementInfo>> | undefined;
  log: Logger;
}

export class GatewayContext implements PolicyContext {
  readonly requestId: string;
  readonly request: GatewayRequestInfo;
  readonly route: RouteInfo;
  readonly key: KeyInfo | null;
  readonly customer: CustomerInfo | null;
  readonly subscription: SubscriptionInfo | null;
  readonly entitlements: Readonly<Record<string, EntitlementInfo>>;
  readonly log: Logger;
  #state: Map<string, unknown> | null = null;

  constructor(init: ContextInit) {
    this.requestId = init.requestId;
    this.request = init.request;
    this.route = init.route;
    this.key = init.key;
    this.customer = init.customer;
    this.subscription = init.subscription;
    this.entitlements = init.entitlements ?? NO_ENTITLEMENTS;
    this.log = init.log;
  }

  get state(): Map<string, unknown> {
    if (this.#state === null) this.#state = new Map();
    return this.#state;
  }
}
