import { isIP } from 'node:net';
import { z } from 'zod';
import { bytes, timeoutMs } from './primitives.ts';

/** The console listener: trusted proxies and its limits. */

/** A proxy address or CIDR for `console.trustProxy`, e.g. `10.0.0.0/8` or `::1`. */
export const proxyAddress = z.string().refine((value) => {
  const [address, bits, extra] = value.split('/');
  const family = isIP(address ?? '');
  if (family === 0 || extra !== undefined) return false;
  if (bits === undefined) return true;
  return /^\d{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128);
}, 'an IP address or CIDR such as "10.0.0.0/8"');

/** Defaults of `console.limits` (documented in README and SECURITY.md). */
export const CONSOLE_LIMIT_DEFAULTS = {
  bodyBytes: 1024 * 1024,
  bodyBytesByRoute: { '/api/v1/events': 32 * 1024 * 1024 },
  jsonDepth: 64,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 5_000,
};

/** Limits of the console listener: body size per route, JSON depth, slow clients. */
export const consoleLimitsSchema = z.strictObject({
  /** Largest request body on any route not listed in bodyBytesByRoute (the JSON APIs). */
  bodyBytes: bytes.default(CONSOLE_LIMIT_DEFAULTS.bodyBytes),
  /** Path prefix → largest body; merged over the default (metering ingest takes 32 MiB). */
  bodyBytesByRoute: z
    .record(z.string().regex(/^\/[\w\-./]*$/, 'a path prefix such as "/api/v1/events"'), bytes)
    .default({})
    .transform((routes) => ({ ...CONSOLE_LIMIT_DEFAULTS.bodyBytesByRoute, ...routes })),
  /** Deepest nesting of objects and arrays accepted in a JSON body. */
  jsonDepth: z.number().int().min(2).max(1000).default(CONSOLE_LIMIT_DEFAULTS.jsonDepth),
  /** Time a client has to send its request headers. */
  headersTimeoutMs: timeoutMs.default(CONSOLE_LIMIT_DEFAULTS.headersTimeoutMs),
  /** Time a client has to send its whole request (headers and body). */
  requestTimeoutMs: timeoutMs.default(CONSOLE_LIMIT_DEFAULTS.requestTimeoutMs),
  /** How long an idle keep-alive connection stays open. */
  keepAliveTimeoutMs: timeoutMs.default(CONSOLE_LIMIT_DEFAULTS.keepAliveTimeoutMs),
});
