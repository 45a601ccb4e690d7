import { describe, expect, it } from 'vitest';
import { SseUsageScanner, tokensFromJson } from './token-usage.ts';

const enc = new TextEncoder();

describe('token usage extraction', () => {
  it('reads OpenAI chat completion JSON (cached tokens split out of input)', () => {
    expect(
      tokensFromJson({
        model: 'gpt-x',
        usage: { prompt_tokens: 100, completion_tokens: 20, prompt_tokens_details: { cached_tokens: 30 } },
      }),
    ).toEqual({ model: 'gpt-x', input: 70, output: 20, cached: 30 });
  });

  it('reads Anthropic messages JSON', () => {
    expect(
      tokensFromJson({
        model: 'claude',
        usage: {
          input_tokens: 10,
          output_tokens: 5,
          cache_read_input_tokens: 7,
          cache_creation_input_tokens: 3,
        },
      }),
    ).toEqual({ model: 'claude', input: 13, output: 5, cached: 7 });
  });

  it('ignores bodies without usage', () => {
    expect(tokensFromJson({ ok: true })).toBeNull();
    expect(tokensFromJson('text')).toBeNull();
  });

  it('finds the final usage chunk of an OpenAI stream split at arbitrary points', () => {
    const stream =
      'data: {"model":"tg-small","choices":[{"delta":{"content":"Hi"}}],"usage":null}\n\n' +
      'data: {"model":"tg-small","choices":[],"usage":{"prompt_tokens":12,"completion_tokens":4}}\n\n' +
      'data: [DONE]\n\n';
    for (const size of [1, 7, 1000]) {
      const scanner = new SseUsageScanner();
      for (let i = 0; i < stream.length; i += size) scanner.push(enc.encode(stream.slice(i, i + size)));
      expect(scanner.result()).toEqual({ model: 'tg-small', input: 12, output: 4, cached: 0 });
    }
  });

  it('merges Anthropic stream usage from message_start and message_delta', () => {
    const scanner = new SseUsageScanner();
    scanner.push(
      enc.encode(
        'event: message_start\ndata: {"type":"message_start","message":{"model":"claude","usage":{"input_tokens":25,"output_tokens":1}}}\n\n' +
          'event: message_delta\ndata: {"type":"message_delta","usage":{"output_tokens":15}}\n\n',
      ),
    );
    expect(scanner.result()).toEqual({ model: 'claude', input: 25, output: 15, cached: 0 });
  });
});
