import type { Context, MiddlewareHandler } from 'hono';
import { jsonDepth, tooDeep } from './json-depth.ts';
import { ProblemError } from './problem.ts';

/**
 * Request bodies on the console listener are bounded before anything reads them: a declared
 * `Content-Length` over the limit is refused at once, and a streamed (chunked) body is counted
 * while it arrives and refused the moment it passes the limit, so memory never holds more than
 * the limit. The 413 closes the connection, so the rest of a huge upload is never read.
 * JSON bodies are then checked for nesting depth (400), before any handler parses them.
 */
export interface BodyLimits {
  /** Bytes for any route not listed in `routes` (JSON APIs). */
  defaultBytes: number;
  /** Path prefix → bytes, longest prefix wins (e.g. `/api/v1/events` for metering ingest). */
  routes: Readonly<Record<string, number>>;
  /** Deepest nesting of objects/arrays accepted in a JSON body. */
  jsonDepth: number;
}

export function bodyLimitFor(limits: BodyLimits, path: string): { bytes: number; setting: string } {
  let best: string | null = null;
  for (const prefix of Object.keys(limits.routes)) {
    if (
      (path === prefix || path.startsWith(prefix.endsWith('/') ? prefix : `${prefix}/`)) &&
      (!best || prefix.length > best.length)
    ) {
      best = prefix;
    }
  }
  return best
    ? { bytes: limits.routes[best]!, setting: `console.limits.bodyBytesByRoute["${best}"]` }
    : { bytes: limits.defaultBytes, setting: 'console.limits.bodyBytes' };
}

function formatBytes(bytes: number): string {
  if (bytes >= 1024 * 1024 && bytes % (1024 * 1024) === 0) return `${bytes / 1024 / 1024} MiB`;
  if (bytes >= 1024 && bytes % 1024 === 0) return `${bytes / 1024} KiB`;
  return `${bytes} bytes`;
}

export function payloadTooLarge(limit: number, setting: string): ProblemError {
  return new ProblemError({
    status: 413,
    type: 'payload-too-large',
    title: 'Request body too large',
    detail: `The request body is larger than ${formatBytes(limit)}, the limit for this route (${setting}).`,
    extensions: { limit },
    headers: { connection: 'close' },
  });
}

/** Reads at most `limit` bytes of `request`'s body; throws the 413 as soon as more arrive. */
export async function readBoundedBody(
  request: Request,
  limit: number,
  setting: string,
): Promise<Uint8Array<ArrayBuffer>> {
  const declared = request.headers.get('content-length');
  if (declared !== null && !request.headers.has('transfer-encoding') && Number(declared) > limit) {
    throw payloadTooLarge(limit, setting);
  }
  if (!request.body) return new Uint8Array(0);
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel().catch(() => undefined);
      throw payloadTooLarge(limit, setting);
    }
    chunks.push(value);
  }
  const body = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    body.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return body;
}

function isJson(c: Context): boolean {
  const type = (c.req.header('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
  return type === 'application/json' || type.endsWith('+json');
}

/** Console middleware: bounded body per route, then the JSON depth check. `limits` is read per request. */
export function bodyGuard(limits: () => BodyLimits): MiddlewareHandler {
  return async (c, next) => {
    if (c.req.method === 'GET' || c.req.method === 'HEAD' || !c.req.raw.body) return next();
    const current = limits();
    const { bytes, setting } = bodyLimitFor(current, c.req.path);
    const body = await readBoundedBody(c.req.raw, bytes, setting);
    if (isJson(c) && jsonDepth(new TextDecoder().decode(body), current.jsonDepth) > current.jsonDepth) {
      throw tooDeep(current.jsonDepth);
    }
    c.req.raw = new Request(c.req.raw, { body });
    return next();
  };
}
