import type { Store } from '../store/index.ts';
import type { UsageEvent } from './events.ts';

export interface StoredEventRow {
  source: string;
  id: string;
  type: string;
  subject: string;
  time: Date;
  data: Record<string, unknown>;
}

export interface EventFilter {
  subject?: string;
  /** Only events of these subjects (a customer's subject keys, for `customerId`). */
  subjects?: readonly string[];
  /** Substring of the event id. */
  id?: string;
  from?: Date;
  to?: Date;
  /** Ingestion time range [ingestedFrom, ingestedTo). */
  ingestedFrom?: Date;
  ingestedTo?: Date;
  limit: number;
}

export interface ListedEventRow extends StoredEventRow {
  ingested_at: Date;
}

/** Chunks read per round when listing events. */
const LIST_PAGE = 16;

/**
 * Newest first (by event time), for `GET /api/v1/events`. Reads chunks newest first (by the
 * latest event time they hold) and stops as soon as no chunk still unread can hold an event newer
 * than the `limit`-th one found.
 */
export async function listEvents(store: Store, filter: EventFilter): Promise<ListedEventRow[]> {
  const fromMs = filter.from?.getTime() ?? Number.NEGATIVE_INFINITY;
  const toMs = filter.to?.getTime() ?? Number.POSITIVE_INFINITY;
  const found: ListedEventRow[] = [];
  let cursor: { maxTime: Date; id: number } | null = null;
  for (;;) {
    const params: unknown[] = [LIST_PAGE];
    const where: string[] = [];
    if (filter.from) {
      params.push(filter.from.toISOString());
      where.push(`max_time >= $${params.length}::timestamptz`);
    }
    if (filter.to) {
      params.push(filter.to.toISOString());
      where.push(`min_time < $${params.length}::timestamptz`);
    }
    if (filter.ingestedFrom) {
      params.push(filter.ingestedFrom.toISOString());
      where.push(`ingested_at >= $${params.length}::timestamptz`);
    }
    if (filter.ingestedTo) {
      params.push(filter.ingestedTo.toISOString());
      where.push(`ingested_at < $${params.length}::timestamptz`);
    }
    if (cursor) {
      params.push(cursor.maxTime.toISOString(), cursor.id);
      where.push(`(max_time, id) < ($${params.length - 1}::timestamptz, $${params.length})`);
    }
    const chunks = await store.query<{
      id: string | number;
      max_time: Date;
      ingested_at: Date;
      events: string;
    }>(
      `select id, max_time, ingested_at, events from usage_event_chunks
       ${where.length ? `where ${where.join(' and ')}` : ''} order by max_time desc, id desc limit $1`,
      params,
    );
    for (const chunk of chunks) {
      for (const e of JSON.parse(chunk.events) as UsageEvent[]) {
        const ms = Date.parse(e.time);
        if (ms < fromMs || ms >= toMs) continue;
        if (filter.subject && e.subject !== filter.subject) continue;
        if (filter.subjects && !filter.subjects.includes(e.subject)) continue;
        if (filter.id && !e.id.includes(filter.id)) continue;
        found.push({
          source: e.source,
          id: e.id,
          type: e.type,
          subject: e.subject,
          time: new Date(ms),
          data: e.data,
          ingested_at: new Date(chunk.ingested_at),
        });
      }
    }
    found.sort((a, b) => b.time.getTime() - a.time.getTime() || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const last = chunks[chunks.length - 1];
    if (!last || chunks.length < LIST_PAGE) break;
    cursor = { maxTime: new Date(last.max_time), id: Number(last.id) };
    const kth = found[filter.limit - 1];
    // Every unread chunk's events are at or before its max_time ≤ the cursor's.
    if (kth && kth.time.getTime() > cursor.maxTime.getTime()) break;
  }
  return found.slice(0, filter.limit);
}
