import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { ResolvedConfig } from '../config/index.ts';
import { answerClientErrors } from '../http/client-errors.ts';

/**
 * The gateway's node:http listener and its limits on slow clients (`gateway.limits`): a client
 * that does not finish its headers within `headersTimeoutMs`, or its whole request within
 * `requestTimeoutMs`, gets 408 problem+json (or the connection closed once a response started); idle
 * keep-alive connections close after `keepAliveTimeoutMs`. A client announcing 1,000 body bytes
 * and sending 10 once held its connection (and an upstream request) open for minutes.
 */

export type GatewayLimits = ResolvedConfig['gateway']['limits'];

/**
 * Node checks the header and request timeouts on a timer (30 s by default); checking four times
 * per the shortest timeout, at most once a second, keeps the cut-off close to what is configured.
 */
function checkingIntervalMs(limits: GatewayLimits): number {
  return Math.max(
    100,
    Math.min(1_000, Math.floor(Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs) / 4)),
  );
}

export function createGatewayServer(
  limits: GatewayLimits,
  handler: (req: IncomingMessage, res: ServerResponse) => void,
): Server {
  const server = createServer({ connectionsCheckingInterval: checkingIntervalMs(limits) }, handler);
  applyLimits(server, limits);
  answerClientErrors(server);
  return server;
}

/** Also on reload: Node reads these on every check and every response. */
export function applyLimits(server: Server, limits: GatewayLimits): void {
  // Node requires headersTimeout ≤ requestTimeout.
  server.headersTimeout = Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs);
  server.requestTimeout = limits.requestTimeoutMs;
  server.keepAliveTimeout = limits.keepAliveTimeoutMs;
}
