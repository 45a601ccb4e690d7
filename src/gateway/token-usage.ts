/**
 * AI token usage from upstream responses, without delaying them: JSON bodies are parsed after
 * they were forwarded; SSE streams are scanned line by line as chunks pass through (the chunk is
 * written to the client first). Understood shapes:
 *
 * - OpenAI chat completions: `usage.prompt_tokens`, `usage.completion_tokens`,
 *   `usage.prompt_tokens_details.cached_tokens` (streams: the final chunk with `usage`);
 * - OpenAI responses / Anthropic messages: `usage.input_tokens`, `usage.output_tokens`,
 *   `input_tokens_details.cached_tokens`, `cache_read_input_tokens`, `cache_creation_input_tokens`
 *   (Anthropic streams: `message_start.message.usage` then `message_delta.usage`).
 *
 * Token types: `input` = input tokens not read from a cache (cache writes count as input),
 * `cached` = input tokens read from a cache, `output` = generated tokens.
 */
export interface TokenUsage {
  model: string;
  input: number;
  output: number;
  cached: number;
}

type Usage = Record<string, unknown>;

const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : 0);

export function tokensFromUsage(usage: Usage, model: string): TokenUsage | null {
  if ('prompt_tokens' in usage || 'completion_tokens' in usage) {
    const details = (usage.prompt_tokens_details ?? {}) as Usage;
    const cached = num(details.cached_tokens);
    return {
      model,
      input: Math.max(0, num(usage.prompt_tokens) - cached),
      output: num(usage.completion_tokens),
      cached,
    };
  }
  if ('input_tokens' in usage || 'output_tokens' in usage) {
    const details = (usage.input_tokens_details ?? {}) as Usage;
    const openaiCached = num(details.cached_tokens);
    const cached = openaiCached + num(usage.cache_read_input_tokens);
    return {
      model,
      input: Math.max(0, num(usage.input_tokens) - openaiCached) + num(usage.cache_creation_input_tokens),
      output: num(usage.output_tokens),
      cached,
    };
  }
  return null;
}

/** From a parsed JSON response body. */
export function tokensFromJson(body: unknown): TokenUsage | null {
  if (!body || typeof body !== 'object') return null;
  const b = body as Usage;
  const usage = b.usage;
  if (!usage || typeof usage !== 'object') return null;
  return tokensFromUsage(usage as Usage, typeof b.model === 'string' ? b.model : 'unknown');
}

/**
 * Scans an SSE stream as it passes. Keeps only the unfinished last line between chunks and
 * parses only `data:` lines that mention usage or a model.
 */
export class SseUsageScanner {
  #rest = '';
  #model = 'unknown';
  #usage: Usage | null = null;
  /** The last JSON payload that carried usage (for the metering hook's `body`). */
  lastUsageChunk: unknown = null;
  readonly #decoder = new TextDecoder();

  push(chunk: Uint8Array): void {
    const text = this.#rest + this.#decoder.decode(chunk, { stream: true });
    let start = 0;
    for (;;) {
      const nl = text.indexOf('\n', start);
      if (nl < 0) break;
      this.#line(text, start, nl);
      start = nl + 1;
    }
    this.#rest = text.length - start > 1_048_576 ? '' : text.slice(start);
  }

  #line(text: string, start: number, end: number): void {
    if (!text.startsWith('data:', start)) return;
    const line = text.slice(start + 5, end).trim();
    if (line === '' || line === '[DONE]') return;
    if (!line.includes('"usage"') && !line.includes('"model"')) return;
    let payload: Usage;
    try {
      payload = JSON.parse(line) as Usage;
    } catch {
      return;
    }
    if (!payload || typeof payload !== 'object') return;
    const message = payload.message as Usage | undefined;
    const model = payload.model ?? message?.model;
    if (typeof model === 'string') this.#model = model;
    const usage = (payload.usage ?? message?.usage) as Usage | null | undefined;
    if (usage && typeof usage === 'object') {
      this.#usage = { ...(this.#usage ?? {}) };
      for (const [k, v] of Object.entries(usage)) if (v !== null && v !== undefined) this.#usage[k] = v;
      this.lastUsageChunk = payload;
    }
  }

  result(): TokenUsage | null {
    if (this.#rest) {
      const rest = this.#rest;
      this.#rest = '';
      this.#line(`${rest}\n`, 0, rest.length);
    }
    return this.#usage ? tokensFromUsage(this.#usage, this.#model) : null;
  }
}
