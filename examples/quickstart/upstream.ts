import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * The quickstart's demo API (the upstream Tollgate sells): the operations of ./openapi.yaml.
 * Deterministic answers, so examples and tests can assert them.
 *
 *   node examples/quickstart/upstream.ts      # port from QUICKSTART_UPSTREAM_PORT, default 4010
 */
const MODELS = new Set(['tg-small', 'tg-large']);
const CONDITIONS = ['sunny', 'cloudy', 'rain', 'windy', 'snow'];

function hash(text: string): number {
  let h = 2166136261;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619);
  return h >>> 0;
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function readBody(req: IncomingMessage, limit = 1_048_576): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        reject(new Error('body too large'));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** Rough token count: one token per 4 characters, at least 1. */
const countTokens = (text: string) => Math.max(1, Math.ceil(text.length / 4));

interface ChatRequest {
  model?: unknown;
  messages?: unknown;
  stream?: unknown;
}

async function chat(req: IncomingMessage, res: ServerResponse): Promise<void> {
  let body: ChatRequest;
  try {
    body = JSON.parse(await readBody(req)) as ChatRequest;
  } catch {
    json(res, 400, { error: { message: 'body must be JSON', type: 'invalid_request_error' } });
    return;
  }
  const model = typeof body.model === 'string' ? body.model : '';
  if (!MODELS.has(model)) {
    json(res, 400, {
      error: { message: `model must be one of ${[...MODELS].join(', ')}`, type: 'invalid_request_error' },
    });
    return;
  }
  if (!Array.isArray(body.messages) || body.messages.length === 0) {
    json(res, 400, {
      error: { message: 'messages must be a non-empty array', type: 'invalid_request_error' },
    });
    return;
  }
  const prompt = body.messages
    .map((m) => (m && typeof m === 'object' && typeof m.content === 'string' ? m.content : ''))
    .join('\n');
  const last = String((body.messages.at(-1) as { content?: unknown })?.content ?? '');
  const answer =
    model === 'tg-large'
      ? `You said "${last}". As the large model, I can tell you it has ${last.length} characters and ${last.split(/\s+/).filter(Boolean).length} words.`
      : `You said "${last}".`;
  const usage = {
    prompt_tokens: countTokens(prompt),
    completion_tokens: countTokens(answer),
    total_tokens: countTokens(prompt) + countTokens(answer),
  };
  const id = `chatcmpl-${hash(prompt + model).toString(16)}`;
  const created = 1_767_225_600; // fixed: answers are deterministic
  if (body.stream !== true) {
    json(res, 200, {
      id,
      object: 'chat.completion',
      created,
      model,
      choices: [{ index: 0, message: { role: 'assistant', content: answer }, finish_reason: 'stop' }],
      usage,
    });
    return;
  }
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  const words = answer.split(/(?<= )/);
  const delay = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('delayMs') ?? 5);
  const chunk = (payload: unknown) => res.write(`data: ${JSON.stringify(payload)}\n\n`);
  let closed = false;
  res.on('close', () => {
    closed = true;
  });
  for (const [i, word] of words.entries()) {
    if (closed) return;
    chunk({
      id,
      object: 'chat.completion.chunk',
      created,
      model,
      choices: [
        {
          index: 0,
          delta: i === 0 ? { role: 'assistant', content: word } : { content: word },
          finish_reason: null,
        },
      ],
    });
    if (delay > 0) await new Promise((r) => setTimeout(r, delay));
  }
  chunk({
    id,
    object: 'chat.completion.chunk',
    created,
    model,
    choices: [{ index: 0, delta: {}, finish_reason: 'stop' }],
  });
  chunk({ id, object: 'chat.completion.chunk', created, model, choices: [], usage });
  res.end('data: [DONE]\n\n');
}

async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://upstream');
  const path = url.pathname;
  if (req.method === 'GET' && path === '/v1/weather') {
    const city = url.searchParams.get('city');
    if (!city) {
      json(res, 400, { error: 'query parameter "city" is required' });
      return;
    }
    const h = hash(city.toLowerCase());
    json(res, 200, { city, temperatureC: (h % 35) - 5, conditions: CONDITIONS[h % CONDITIONS.length] });
    return;
  }
  const item = /^\/v1\/items\/([^/]+)$/.exec(path);
  if (req.method === 'GET' && item) {
    const id = decodeURIComponent(item[1] as string);
    json(res, 200, { id, name: `Item ${id}`, priceCents: hash(id) % 10_000 });
    return;
  }
  if (req.method === 'POST' && path === '/v1/echo') {
    // Streams the body back as it arrives, whatever its size.
    const type = req.headers['content-type'] ?? 'application/octet-stream';
    const length = req.headers['content-length'];
    res.writeHead(
      200,
      length ? { 'content-type': type, 'content-length': length } : { 'content-type': type },
    );
    req.pipe(res);
    return;
  }
  if (req.method === 'POST' && path === '/v1/chat/completions') {
    await chat(req, res);
    return;
  }
  if (req.method === 'GET' && path === '/healthz') {
    json(res, 200, { status: 'ok' });
    return;
  }
  json(res, 404, { error: `no ${req.method} ${path}` });
}

export interface DemoUpstream {
  url: string;
  server: Server;
  close(): Promise<void>;
}

export function startDemoUpstream(port = 4010, host = '127.0.0.1'): Promise<DemoUpstream> {
  const server = createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) json(res, 500, { error: String(error) });
      else res.destroy();
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      const { port: actual } = server.address() as AddressInfo;
      resolve({
        url: `http://${host}:${actual}`,
        server,
        close: () =>
          new Promise<void>((r) => {
            server.close(() => r());
            server.closeAllConnections();
          }),
      });
    });
  });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const port = Number(process.env.QUICKSTART_UPSTREAM_PORT ?? 4010);
  const upstream = await startDemoUpstream(port);
  console.log(`demo upstream listening on ${upstream.url}`);
}
