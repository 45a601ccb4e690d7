import type { Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { PROBLEM_CONTENT_TYPE, PROBLEM_TYPE_BASE } from './problem.ts';

/**
 * What Node's HTTP parser refuses before a handler runs (a request past `requestTimeout`, headers
 * too large, a malformed request line) is answered as every other refusal is: problem+json, then
 * the connection closed. Without a `clientError` listener Node writes a bare `408`/`400` with no
 * body. Once a response has started on the socket nothing more can be said, and it is closed.
 */
export function answerClientErrors(server: Server): void {
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) => {
    // `_httpMessage` is the response in progress on this socket (how Node's own default decides).
    const started = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage
      ?.headersSent;
    if (!socket.writable || started || error.code === 'ECONNRESET') {
      socket.destroy();
      return;
    }
    socket.end(problemResponse(error.code));
  });
}

function problemResponse(code: string | undefined): string {
  const [status, reason, type, detail] =
    code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? [
          408,
          'Request Timeout',
          'request-timeout',
          'The request did not arrive in full within the time allowed.',
        ]
      : code === 'HPE_HEADER_OVERFLOW'
        ? [431, 'Request Header Fields Too Large', 'headers-too-large', 'The request headers are too large.']
        : [400, 'Bad Request', 'malformed-request', 'The request is not valid HTTP/1.1.'];
  const body = JSON.stringify({ type: PROBLEM_TYPE_BASE + type, title: reason, status, detail });
  return (
    `HTTP/1.1 ${status} ${reason}\r\nContent-Type: ${PROBLEM_CONTENT_TYPE}\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`
  );
}
