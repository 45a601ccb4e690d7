import type { IncomingMessage } from 'node:http';
import { promisify } from 'node:util';
import { brotliDecompress, gunzip, inflate, type ZlibOptions } from 'node:zlib';
import { ProblemError } from '../http/problem.ts';

/**
 * The request body of a model-gated route, read to learn the requested model and to size the AI
 * token reservation. A compressed body (`Content-Encoding: gzip`, `deflate` or `br`) is decoded
 * for that; it once went upstream unread, so a plan without the large model could call it by
 * gzipping the request. Both the bytes received and the bytes decoded stop at the limit (413),
 * so a decompression bomb costs at most `limit` bytes of memory; an encoding the gateway cannot
 * read is refused (415), a body that does not decode is refused (400). What goes upstream is the
 * body exactly as received, with its `Content-Encoding`.
 */

export interface GatedBody {
  /** As received: what is forwarded. */
  readonly raw: Buffer;
  /** Decoded: what the model and the reservation are read from. */
  readonly decoded: Buffer;
}

type Decoder = (buffer: Buffer, options: ZlibOptions) => Promise<Buffer>;

const DECODERS: Record<string, Decoder> = {
  gzip: promisify(gunzip) as Decoder,
  'x-gzip': promisify(gunzip) as Decoder,
  deflate: promisify(inflate) as Decoder,
  br: promisify(brotliDecompress) as Decoder,
};

function tooLarge(limit: number, what: string): ProblemError {
  return new ProblemError({
    status: 413,
    type: 'body-too-large',
    title: 'Request body too large',
    detail: `This route reads the request to choose the model; send at most ${limit} bytes ${what}.`,
    extensions: { limit },
  });
}

/** The decoder of a `Content-Encoding`, null for none, or the 415 problem. */
function decoderOf(header: string | undefined): Decoder | null | ProblemError {
  const encoding = header?.trim().toLowerCase() ?? '';
  if (encoding === '' || encoding === 'identity') return null;
  const decoder = DECODERS[encoding];
  if (decoder !== undefined) return decoder;
  return new ProblemError({
    status: 415,
    type: 'unsupported-content-encoding',
    title: 'Unsupported content encoding',
    detail: `This route reads the request to choose the model; send it uncompressed or with Content-Encoding gzip, deflate or br (got "${header}").`,
    extensions: { supported: ['gzip', 'deflate', 'br', 'identity'] },
    headers: { 'accept-encoding': 'gzip, deflate, br' },
  });
}

/** The 413 of a proxied body over `gateway.limits.bodyBytes`. */
export function bodyTooLarge(limit: number): ProblemError {
  return new ProblemError({
    status: 413,
    type: 'body-too-large',
    title: 'Request body too large',
    detail: `Send at most ${limit} bytes (gateway.limits.bodyBytes).`,
    extensions: { limit },
  });
}

/**
 * A chunked body (no Content-Length) counted while it streams upstream: past the limit it stops
 * with an error, the upstream request is aborted, and `onExceeded` lets the exchange answer 413.
 */
export async function* cappedBody(
  req: AsyncIterable<Buffer>,
  limit: number,
  onExceeded: () => void,
): AsyncGenerator<Buffer> {
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > limit) {
      onExceeded();
      throw bodyTooLarge(limit);
    }
    yield chunk;
  }
}

/** Reads (and decodes) the body within `limit` bytes each way, or returns the problem to answer. */
export async function readGatedBody(req: IncomingMessage, limit: number): Promise<GatedBody | ProblemError> {
  const decoder = decoderOf(req.headers['content-encoding']);
  if (decoder instanceof ProblemError) return decoder;
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > limit) return tooLarge(limit, decoder === null ? '' : 'as sent');
      chunks.push(chunk);
    }
  } catch {
    // The client went away or was cut off by gateway.limits.requestTimeoutMs.
    return new ProblemError({
      status: 408,
      type: 'request-timeout',
      title: 'Request not received',
      detail: 'The request body did not arrive in full.',
    });
  }
  const raw = Buffer.concat(chunks, size);
  if (decoder === null) return { raw, decoded: raw };
  try {
    // maxOutputLength stops inflating at the limit: a bomb never grows past it.
    return { raw, decoded: await decoder(raw, { maxOutputLength: limit }) };
  } catch (error) {
    if ((error as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') return tooLarge(limit, 'once decoded');
    return new ProblemError({
      status: 400,
      type: 'bad-content-encoding',
      title: 'Body does not decode',
      detail: `The request body is not valid ${req.headers['content-encoding']} data.`,
    });
  }
}
