import type { InboundPolicy, OutboundPolicy, ResolvedConfig, RouteConfig } from '../config/index.ts';

/**
 * Routes are compiled once per config (and again on reload) from the OpenAPI document's
 * operations (`x-tollgate: { feature, public }`) plus the config's `routes`; a config route with
 * the same method and path replaces the operation. Matching: exact paths are one Map lookup;
 * templates (`/items/{id}`, trailing `*`) walk a segment tree, static segments before parameters.
 */
export interface Upstream {
  /** `http://host:port` — the key of its connection pool. */
  origin: string;
  /** Path prefix of the upstream URL (no trailing slash), prepended to the request path. */
  basePath: string;
  timeoutMs: number;
  connections: number;
}

export interface RouteInfo {
  readonly method: string;
  readonly path: string;
  readonly feature?: string;
}

export interface CompiledRoute {
  readonly method: string;
  /** The template, e.g. `/v1/items/{id}`: the usage dimension `route`. */
  readonly path: string;
  readonly feature: string | undefined;
  readonly public: boolean;
  /** Model gating: requested `model` → feature needed (null: the body is not read). */
  readonly models: ReadonlyMap<string, string> | null;
  readonly upstream: Upstream;
  readonly inbound: readonly InboundPolicy[];
  readonly outbound: readonly OutboundPolicy[];
  /** What policies see as `ctx.route` (allocated once). */
  readonly info: RouteInfo;
}

export type MatchResult =
  | { route: CompiledRoute; params: Record<string, string> }
  | { allowed: string[] }
  | null;

type Methods = Map<string, CompiledRoute>;

interface Node {
  statics: Map<string, Node>;
  param: { name: string; node: Node } | null;
  wildcard: Methods | null;
  methods: Methods | null;
}

const newNode = (): Node => ({ statics: new Map(), param: null, wildcard: null, methods: null });
const NO_PARAMS: Record<string, string> = Object.freeze({}) as Record<string, string>;
const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

export function parseUpstream(value: ResolvedConfig['upstream']): Upstream {
  const spec = typeof value === 'string' ? { url: value, timeoutMs: 30_000, connections: 128 } : value;
  const url = new URL(spec.url);
  return {
    origin: url.origin,
    basePath: url.pathname.replace(/\/+$/, ''),
    timeoutMs: spec.timeoutMs,
    connections: spec.connections,
  };
}

export interface RouteDefinition {
  method: string;
  path: string;
  feature?: string;
  public: boolean;
  models?: Record<string, string>;
  upstream?: ResolvedConfig['upstream'];
  inbound: InboundPolicy[];
  outbound: OutboundPolicy[];
}

/** `x-tollgate` on an OpenAPI path item or operation. */
interface OpenApiExtension {
  feature?: string;
  public?: boolean;
  models?: Record<string, string>;
}

/** Operations of an OpenAPI 3 document, as route definitions. */
export function routesFromOpenApi(document: Record<string, unknown> | undefined): RouteDefinition[] {
  const paths = (document?.paths ?? {}) as Record<string, Record<string, unknown>>;
  const out: RouteDefinition[] = [];
  for (const [path, item] of Object.entries(paths)) {
    if (!item || typeof item !== 'object') continue;
    const pathExt = (item['x-tollgate'] ?? {}) as OpenApiExtension;
    for (const method of HTTP_METHODS) {
      const operation = item[method] as Record<string, unknown> | undefined;
      if (!operation || typeof operation !== 'object') continue;
      const ext = {
        ...pathExt,
        ...((operation['x-tollgate'] ?? {}) as OpenApiExtension),
      };
      out.push({
        method: method.toUpperCase(),
        path,
        feature: typeof ext.feature === 'string' ? ext.feature : undefined,
        public: ext.public === true,
        models: ext.models && typeof ext.models === 'object' ? ext.models : undefined,
        inbound: [],
        outbound: [],
      });
    }
  }
  return out;
}

export function routesFromConfig(routes: readonly RouteConfig[]): RouteDefinition[] {
  return routes.map((r) => ({
    method: r.method,
    path: r.path,
    feature: r.feature,
    public: r.public,
    models: r.models,
    upstream: r.upstream,
    inbound: r.policies?.inbound ?? [],
    outbound: r.policies?.outbound ?? [],
  }));
}

/**
 * `gateway.defaultFeature` on every non-public route that names no feature of its own, so an
 * operation added to the OpenAPI document without `x-tollgate` is gated and counted like the rest.
 */
export function withDefaultFeature(
  definitions: readonly RouteDefinition[],
  feature: string | undefined,
): RouteDefinition[] {
  if (feature === undefined) return [...definitions];
  return definitions.map((d) => (d.public || d.feature !== undefined ? d : { ...d, feature }));
}

function splitPath(path: string): string[] {
  const parts = path.split('/');
  parts.shift(); // leading ''
  return parts;
}

export class Router {
  readonly #exact = new Map<string, Methods>();
  readonly #root = newNode();
  readonly routes: CompiledRoute[] = [];

  constructor(definitions: readonly RouteDefinition[], defaultUpstream: Upstream) {
    // Later definitions win for the same method + path (config after OpenAPI).
    const byKey = new Map<string, RouteDefinition>();
    for (const d of definitions) byKey.set(`${d.method} ${d.path}`, d);
    for (const d of byKey.values()) {
      const route: CompiledRoute = {
        method: d.method,
        path: d.path,
        feature: d.feature,
        public: d.public,
        models: d.models && Object.keys(d.models).length > 0 ? new Map(Object.entries(d.models)) : null,
        upstream: d.upstream ? parseUpstream(d.upstream) : defaultUpstream,
        inbound: d.inbound,
        outbound: d.outbound,
        info: Object.freeze(
          d.feature
            ? { method: d.method, path: d.path, feature: d.feature }
            : { method: d.method, path: d.path },
        ),
      };
      this.routes.push(route);
      this.#add(route);
    }
  }

  #add(route: CompiledRoute): void {
    const dynamic = route.path.includes('{') || route.path.endsWith('*');
    if (!dynamic) {
      let methods = this.#exact.get(route.path);
      if (!methods) {
        methods = new Map();
        this.#exact.set(route.path, methods);
      }
      methods.set(route.method, route);
      return;
    }
    let node = this.#root;
    const segments = splitPath(route.path);
    for (let i = 0; i < segments.length; i++) {
      const segment = segments[i] as string;
      if (segment === '*' && i === segments.length - 1) {
        if (!node.wildcard) node.wildcard = new Map();
        node.wildcard.set(route.method, route);
        return;
      }
      const param = /^\{([^}]+)\}$/.exec(segment);
      if (param) {
        if (!node.param) node.param = { name: param[1] as string, node: newNode() };
        node = node.param.node;
      } else {
        let next = node.statics.get(segment);
        if (!next) {
          next = newNode();
          node.statics.set(segment, next);
        }
        node = next;
      }
    }
    if (!node.methods) node.methods = new Map();
    node.methods.set(route.method, route);
  }

  match(method: string, path: string): MatchResult {
    const exact = this.#exact.get(path);
    if (exact !== undefined) {
      const route = pick(exact, method);
      if (route) return { route, params: NO_PARAMS };
    }
    const params: Record<string, string> = {};
    const found = walk(this.#root, splitPath(path), 0, params);
    const methods = found ?? exact;
    if (!methods) return null;
    const route = pick(methods, method);
    if (route) return { route, params: found ? params : NO_PARAMS };
    const allowed = new Set<string>([...(exact?.keys() ?? []), ...(found?.keys() ?? [])]);
    if (allowed.has('GET')) allowed.add('HEAD');
    return { allowed: [...allowed].sort() };
  }
}

function pick(methods: Methods, method: string): CompiledRoute | undefined {
  return methods.get(method) ?? (method === 'HEAD' ? methods.get('GET') : undefined) ?? methods.get('*');
}

function walk(node: Node, segments: string[], i: number, params: Record<string, string>): Methods | null {
  if (i === segments.length) return node.methods ?? node.wildcard;
  const segment = segments[i] as string;
  const next = node.statics.get(segment);
  if (next) {
    const found = walk(next, segments, i + 1, params);
    if (found) return found;
  }
  if (node.param && segment !== '') {
    const found = walk(node.param.node, segments, i + 1, params);
    if (found) {
      params[node.param.name] = safeDecode(segment);
      return found;
    }
  }
  if (node.wildcard) {
    params['*'] = segments.slice(i).join('/');
    return node.wildcard;
  }
  return null;
}

function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}
