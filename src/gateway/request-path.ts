/**
 * The request path the gateway matches is the path it forwards. A raw path with dot-segments
 * (`/v1/items/..`, `/v1/items/%2e%2e`) once matched `/v1/items/{id}` and went upstream as it came,
 * where the upstream resolved it to `/v1/`: a route the key's plan may not allow. So the path is
 * normalised once, before routing, per RFC 3986 §6.2.2 (percent-encoded unreserved characters
 * decoded, hex digits upper-cased) and §5.2.4 (dot-segments removed), and that exact text is both
 * matched and sent upstream. What cannot be normalised without guessing how the upstream reads it
 * is refused: encoded slashes and backslashes (`%2F`, `%5C`, `\`), NUL (`%00`), malformed
 * percent-escapes and `..` above the root.
 */

export type NormalizedPath = { ok: true; path: string } | { ok: false; reason: string };

/** Paths without `%`, `\` or a segment starting with `.` are already normal (the common case). */
const NEEDS_WORK = /[%\\]|\/\./;

const HEX = /^[0-9A-Fa-f]{2}$/;
const UNRESERVED = /^[A-Za-z0-9\-._~]$/;

/** `%xx` escapes: unreserved characters decoded, the rest kept with upper-case hex. */
function normalizeEscapes(path: string): NormalizedPath {
  let out = '';
  for (let i = 0; i < path.length; i++) {
    const c = path[i] as string;
    if (c === '\\') return { ok: false, reason: 'a backslash' };
    if (c !== '%') {
      out += c;
      continue;
    }
    const hex = path.slice(i + 1, i + 3);
    if (!HEX.test(hex)) return { ok: false, reason: 'a malformed percent-escape' };
    const upper = hex.toUpperCase();
    if (upper === '2F' || upper === '5C') return { ok: false, reason: 'an encoded slash or backslash' };
    if (upper === '00') return { ok: false, reason: 'an encoded NUL' };
    const decoded = String.fromCharCode(Number.parseInt(hex, 16));
    out += UNRESERVED.test(decoded) ? decoded : `%${upper}`;
    i += 2;
  }
  return { ok: true, path: out };
}

/** RFC 3986 §5.2.4 on an absolute path, except that `..` above the root is refused, not dropped. */
function removeDotSegments(path: string): NormalizedPath {
  const segments = path.split('/');
  const out: string[] = [];
  // segments[0] is the '' before the leading '/'.
  for (let i = 1; i < segments.length; i++) {
    const segment = segments[i] as string;
    const last = i === segments.length - 1;
    if (segment === '.') {
      if (last) out.push('');
    } else if (segment === '..') {
      if (out.length === 0) return { ok: false, reason: '".." above the root' };
      out.pop();
      if (last) out.push('');
    } else {
      out.push(segment);
    }
  }
  return { ok: true, path: `/${out.join('/')}` };
}

/** The path to match and forward, or why it is refused (the gateway answers 400). */
export function normalizeRequestPath(raw: string): NormalizedPath {
  // Absolute-form (`GET http://host/x`) and `*` are not paths a route can name.
  if (!raw.startsWith('/')) return { ok: false, reason: 'no leading "/"' };
  if (!NEEDS_WORK.test(raw)) return { ok: true, path: raw };
  const escaped = normalizeEscapes(raw);
  if (!escaped.ok) return escaped;
  return removeDotSegments(escaped.path);
}
