import { problems } from '../http/problem.ts';
import type { UsageEvent } from './events.ts';

/**
 * Usage events as OpenMeter's ingest reads them (CloudEvents 1.0, openmeter/ingest/httpdriver):
 * checked field by field, with a 400 problem naming `[index].field` for the first bad ones.
 */
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

/** Event times the store can hold and that make sense for usage: 1970 up to year 9999. */
const MAX_TIME = Date.UTC(10_000, 0, 1);
export const inTimeRange = (ms: number) => ms >= 0 && ms < MAX_TIME;

/**
 * Where a string holding U+0000 is (PostgreSQL text and jsonb cannot store it), or null. Walks
 * the value with an explicit stack: no recursion, whatever the nesting.
 */
function nulAt(root: unknown, rootPath: string): string | null {
  const stack: [unknown, string][] = [[root, rootPath]];
  while (stack.length > 0) {
    const [value, path] = stack.pop() as [unknown, string];
    if (typeof value === 'string') {
      if (value.includes('\u0000')) return path;
      continue;
    }
    if (value === null || typeof value !== 'object') continue;
    const entries = Object.entries(value);
    for (let i = entries.length - 1; i >= 0; i--) {
      const [k, v] = entries[i] as [string, unknown];
      stack.push([v, Array.isArray(value) ? `${path}[${k}]` : path ? `${path}.${k}` : k]);
    }
  }
  return null;
}

/** An event's time (now when absent), or why it is refused, or that it is dropped (see parseCloudEvents). */
function eventTime(
  raw: unknown,
  now: () => Date,
  drop: boolean,
): { time: string } | { error: string } | { drop: true } {
  if (raw === undefined || raw === null) return { time: now().toISOString() };
  if (typeof raw !== 'string' || !RFC3339.test(raw) || Number.isNaN(Date.parse(raw))) {
    return { error: 'time must be an RFC 3339 date-time, e.g. 2026-01-01T00:00:00Z' };
  }
  const ms = Date.parse(raw);
  if (drop && ms < 1000) return { drop: true };
  if (!inTimeRange(ms)) return { error: 'time must be between 1970-01-01 and 9999-12-31' };
  return { time: new Date(raw).toISOString() };
}

/**
 * Checks CloudEvents as OpenMeter does. `mayHoldNul`: the JSON text had a `\u0000` escape, so the
 * events are searched for the field that holds it (callers test the text, which is cheaper).
 *
 * `drop`: events that OpenMeter accepts and then drops are left out instead of refusing the
 * batch. OpenMeter's ingest only decodes the CloudEvents (a field of the wrong type, a bad time
 * or specversion fails the whole request: openmeter/ingest/httpdriver/ingest.go), and its sink
 * drops an event whose id, type, source or subject is empty or whose time is not after
 * 1970-01-01T00:00:00Z in whole seconds (ValidateKafkaPayloadToCloudEvent in
 * openmeter/ingest/kafkaingest/serializer/serializer.go, called from openmeter/sink/sink.go).
 */
export function parseCloudEvents(
  body: unknown,
  now: () => Date,
  mayHoldNul = false,
  drop = false,
): UsageEvent[] {
  const batch = Array.isArray(body);
  const list: unknown[] = batch ? (body as unknown[]) : [body];
  const errors: { path: string; message: string }[] = [];
  const events: UsageEvent[] = [];
  list.forEach((raw, index) => {
    const at = (field: string) => (batch ? `[${index}]${field ? `.${field}` : ''}` : field || '(body)');
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
      errors.push({ path: at(''), message: 'an event must be a JSON object (CloudEvents 1.0)' });
      return;
    }
    const e = raw as Record<string, unknown>;
    let dropped = false;
    const text = (field: string) => {
      const v = e[field];
      if (typeof v !== 'string' || v.length === 0) {
        // Missing, null or "" decode as an empty string, which OpenMeter's sink drops.
        if (drop && field !== 'specversion' && (v === undefined || v === null || v === '')) dropped = true;
        else errors.push({ path: at(field), message: `${field} is required and must be a non-empty string` });
        return '';
      }
      return v;
    };
    const specversion = text('specversion');
    if (specversion && specversion !== '1.0') {
      errors.push({ path: at('specversion'), message: 'specversion must be "1.0"' });
    }
    const id = text('id');
    const source = text('source');
    const type = text('type');
    const subject = text('subject');
    const t = eventTime(e.time, now, drop);
    if ('error' in t) errors.push({ path: at('time'), message: t.error });
    if ('drop' in t) dropped = true;
    const time = 'time' in t ? t.time : '';
    if (
      e.datacontenttype !== undefined &&
      e.datacontenttype !== null &&
      e.datacontenttype !== 'application/json'
    ) {
      errors.push({ path: at('datacontenttype'), message: 'datacontenttype must be "application/json"' });
    }
    let data: Record<string, unknown> = {};
    if (e.data !== undefined && e.data !== null) {
      if (typeof e.data !== 'object' || Array.isArray(e.data)) {
        errors.push({ path: at('data'), message: 'data must be a JSON object' });
      } else {
        data = e.data as Record<string, unknown>;
      }
    }
    if (mayHoldNul) {
      const field = nulAt({ id, source, type, subject, data }, '');
      if (field !== null) {
        errors.push({ path: at(field), message: 'must not contain the character U+0000 (\\u0000)' });
      }
    }
    if (!dropped) events.push({ specversion: '1.0', id, source, type, subject, time, data });
  });
  if (list.length === 0) errors.push({ path: '(body)', message: 'the batch is empty' });
  if (errors.length > 0) {
    const first = errors[0] as { path: string; message: string };
    throw problems.validation(
      `${errors.length} problem${errors.length > 1 ? 's' : ''} in the events; nothing was stored. First: ${first.path}: ${first.message}`,
      errors.slice(0, 100),
    );
  }
  return events;
}
