import { ProblemError } from './problem.ts';

/**
 * JSON nesting depth, checked on the text before `JSON.parse` builds anything: a body nested
 * 10,000 levels deep is refused in one linear scan instead of overflowing the stack of whatever
 * walks the parsed value later (serialisers, validators, the store's JSON encoder).
 */
export const DEFAULT_JSON_DEPTH = 64;

/** The deepest nesting of objects and arrays in `text` (strings skipped), stopping past `max`. */
export function jsonDepth(text: string, max = Number.POSITIVE_INFINITY): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (inString) {
      if (ch === 92 /* \ */) i++;
      else if (ch === 34 /* " */) inString = false;
      continue;
    }
    if (ch === 34) inString = true;
    else if (ch === 123 /* { */ || ch === 91 /* [ */) {
      depth++;
      if (depth > deepest) {
        deepest = depth;
        if (deepest > max) return deepest;
      }
    } else if (ch === 125 /* } */ || ch === 93 /* ] */) depth--;
  }
  return deepest;
}

export function tooDeep(maxDepth: number): ProblemError {
  return new ProblemError({
    status: 400,
    type: 'json-too-deep',
    title: 'JSON nested too deeply',
    detail: `The JSON body is nested more than ${maxDepth} levels deep (the limit, console.limits.jsonDepth).`,
    extensions: { limit: maxDepth },
  });
}

/** `JSON.parse` with the depth limit: 400 problems for both malformed and too deep JSON. */
export function parseJson(text: string, maxDepth = DEFAULT_JSON_DEPTH): unknown {
  if (jsonDepth(text, maxDepth) > maxDepth) throw tooDeep(maxDepth);
  try {
    return JSON.parse(text);
  } catch {
    throw new ProblemError({
      status: 400,
      type: 'malformed-json',
      title: 'Malformed JSON',
      detail: 'The request body is not valid JSON.',
    });
  }
}
