import type { IncomingHttpHeaders } from 'node:http';
import type { VerifiedKey } from '../keys/model.ts';

/** The headers of the upstream request and of the response relayed to the client. */

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
  // Node answers `Expect: 100-continue` itself; the upstream request streams the body anyway.
  'expect',
]);

export interface ForwardedFor {
  /** The header that carried the API key: never forwarded. */
  authHeader: string;
  clientIp: string;
  requestId: string;
  key: VerifiedKey | null;
  plan: string | undefined;
}

/**
 * The client's headers without hop-by-hop ones, the API key and any `x-tollgate-*` a client
 * made up, plus `X-Forwarded-*`, the request id and who is calling (`x-tollgate-customer`,
 * `-key`, `-plan`).
 */
export function upstreamRequestHeaders(
  source: IncomingHttpHeaders,
  forwarded: ForwardedFor,
): Record<string, string | string[]> {
  const headers: Record<string, string | string[]> = {};
  // Headers named in `Connection` are hop-by-hop too (RFC 9110 §7.6.1).
  const connection = source.connection;
  const named =
    connection !== undefined && connection !== 'keep-alive' && connection !== 'close'
      ? connection.toLowerCase().split(/\s*,\s*/)
      : null;
  for (const name in source) {
    if (HOP_BY_HOP.has(name) || name === forwarded.authHeader || name.startsWith('x-tollgate-')) continue;
    if (named?.includes(name)) continue;
    const value = source[name];
    if (value !== undefined) headers[name] = value;
  }
  const ip = forwarded.clientIp;
  const forwardedFor = source['x-forwarded-for'];
  headers['x-forwarded-for'] = forwardedFor ? `${forwardedFor}, ${ip}` : ip;
  // A TLS terminator in front of the gateway sets these; otherwise this listener is plain HTTP.
  if (headers['x-forwarded-proto'] === undefined) headers['x-forwarded-proto'] = 'http';
  if (headers['x-forwarded-host'] === undefined && source.host !== undefined) {
    headers['x-forwarded-host'] = source.host;
  }
  headers['x-request-id'] = forwarded.requestId;
  const key = forwarded.key;
  if (key !== null) {
    headers['x-tollgate-customer'] = key.customerId;
    headers['x-tollgate-key'] = key.id;
    if (forwarded.plan !== undefined) headers['x-tollgate-plan'] = forwarded.plan;
  }
  return headers;
}

/** The upstream's response headers without hop-by-hop ones. */
export function clientResponseHeaders(upstream: IncomingHttpHeaders): Record<string, string | string[]> {
  const headers: Record<string, string | string[]> = {};
  for (const name in upstream) {
    if (HOP_BY_HOP.has(name)) continue;
    const value = upstream[name];
    if (value !== undefined) headers[name] = value;
  }
  return headers;
}
