import { sql } from 'kysely';
import { OutboundRefusedError } from '../http/outbound.ts';
import type { Store } from '../store/index.ts';
import type { Clock } from '../util/clock.ts';
import { newId } from '../util/ids.ts';
import type { Logger } from '../util/log.ts';
import { signWebhook } from './secrets.ts';

/**
 * Delivering what the outbox holds (`notify_deliveries`), the way Svix and Stripe do:
 *
 * - **Claimed with row locks.** A worker takes due deliveries with `FOR UPDATE SKIP LOCKED` and
 *   leases them (moves `next_attempt_at` past the attempt's timeout) in one short transaction,
 *   then calls the receivers outside it. Any number of workers can run; none sends what another
 *   holds. A worker that dies mid-attempt leaves its lease to run out, and another retries.
 * - **In write order, per endpoint.** Messages are numbered as they are written (`notify_messages.seq`)
 *   and an endpoint's first attempts go one at a time in that order: a message's first attempt
 *   waits until the endpoint has answered (or timed out on) the first attempt of every earlier
 *   message, so two events written in one transaction (`invoice.issued`, then `invoice.paid`)
 *   arrive in that order (the rule of Svix's FIFO endpoints, one message per call:
 *   https://docs.svix.com/advanced-endpoints/fifo-endpoints). Retries keep no order: a failed first attempt is retried later while
 *   the next messages go out (docs/webhooks.md says what receivers can rely on).
 * - **Per endpoint.** Each endpoint has its own slots (`perEndpoint`, default 4 calls in flight
 *   per worker; at most one of them a first attempt, see above); a claim skips endpoints whose slots are full and takes at most that many per
 *   endpoint, and nothing waits for a batch: one slow or dead endpoint delays only itself.
 * - **Retries** after 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h (Svix's schedule), each plus up to
 *   20 % random jitter, then the delivery is failed. On 429 and 503 a `Retry-After` (seconds or
 *   an HTTP date, capped at 24 h) replaces the scheduled delay.
 * - **Receiver signals.** 2xx is success; everything else, 3xx included, is failure (redirects are
 *   never followed). 410 Gone disables the endpoint at once. An endpoint whose attempts have
 *   failed for `disableAfter.ms` (5 days) without a success in between, at least
 *   `disableAfter.attempts` (10) times, is disabled too. Either way the operator is told: a
 *   warning in the log, `disabledReason` on the endpoint, and an `endpoint.disabled` event.
 * - **One call** times out after `timeoutMs` (15 s, the low end of the 15–30 s that Standard
 *   Webhooks suggests); every attempt is logged in `notify_attempts`.
 */
export const RETRY_SCHEDULE_MS = [5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000];
export const JITTER = 0.2;
export const DEFAULT_TIMEOUT_MS = 15_000;
export const DEFAULT_PER_ENDPOINT = 4;
export const DEFAULT_DISABLE_AFTER = { ms: 5 * 86_400_000, attempts: 10 };
const MAX_RETRY_AFTER_MS = 86_400_000;
const CLAIM_LIMIT = 200;

export interface DeliveryDeps {
  store: Store;
  clock: Clock;
  log: Logger;
  /** The signed POST (the SSRF-safe client); returns the status and the Retry-After header. */
  post(
    url: string,
    headers: Record<string, string>,
    body: string,
  ): Promise<{ status: number; retryAfter?: string }>;
  timeoutMs: number;
  perEndpoint: number;
  disableAfter: { ms: number; attempts: number };
  /** Called after an endpoint is disabled (the service emits `endpoint.disabled`). */
  onDisabled(endpoint: { id: string; url: string; reason: string }): Promise<void>;
  /** Called when a first attempt is over: the endpoint's next message in order may go now. */
  onFirstAttemptDone?(): void;
  /** Observes one attempt (metrics). */
  observe?(endpointId: string, seconds: number, ok: boolean): void;
  random?: () => number;
}

interface ClaimedRow {
  id: string;
  endpoint_id: string;
  message_id: string;
  attempts: number;
  type: string;
  payload: unknown;
  created_at: Date | string;
  url: string;
  secret: string;
  previous_secret: string | null;
  previous_secret_expires_at: Date | string | null;
}

interface StreakRow {
  failure_streak: number;
  failing_since: Date | string | null;
}

/** The delay before retry `attempts` (1-based count of attempts made), or null when exhausted. */
export function retryDelayMs(attempts: number, random: () => number = Math.random): number | null {
  const base = RETRY_SCHEDULE_MS[attempts - 1];
  if (base === undefined) return null;
  return Math.round(base * (1 + JITTER * random()));
}

/** `Retry-After` as milliseconds from `now` (seconds or an HTTP date), capped; null if absent or bad. */
export function retryAfterMs(header: string | undefined, now: Date): number | null {
  if (!header) return null;
  const value = header.trim();
  let ms: number;
  if (/^\d+$/.test(value)) ms = Number(value) * 1000;
  else {
    const at = Date.parse(value);
    if (Number.isNaN(at)) return null;
    ms = at - now.getTime();
  }
  return Math.min(Math.max(ms, 1000), MAX_RETRY_AFTER_MS);
}

/** The body every attempt sends, byte-identical across retries. */
export function webhookBody(type: string, createdAt: Date | string, payload: unknown): string {
  return JSON.stringify({
    type,
    timestamp: new Date(createdAt).toISOString(),
    data: typeof payload === 'string' ? JSON.parse(payload) : payload,
  });
}

export interface Deliverer {
  /**
   * Claims due deliveries (skipping endpoints whose slots are full) and starts them; resolves
   * when they are started, with a promise for their completion.
   */
  pump(): Promise<{ started: number; done: Promise<void> }>;
  /** How many calls are in flight in this process. */
  inFlight(): number;
  /** Waits for every call in flight. */
  drain(): Promise<void>;
}

export function createDeliverer(deps: DeliveryDeps): Deliverer {
  const { store, clock, log } = deps;
  const random = deps.random ?? Math.random;
  const busy = new Map<string, number>();
  const running = new Set<Promise<void>>();
  // A lease outlives the call it covers (timeout plus margin), so no other worker takes it meanwhile.
  const leaseMs = deps.timeoutMs * 2 + 30_000;

  /** The rows that fit in their endpoint's free slots (`perEndpoint` minus its calls in flight). */
  function withinFreeSlots(rows: ClaimedRow[]): ClaimedRow[] {
    const taking = new Map<string, number>();
    return rows.filter((row) => {
      const n = (taking.get(row.endpoint_id) ?? busy.get(row.endpoint_id) ?? 0) + 1;
      if (n > deps.perEndpoint) return false;
      taking.set(row.endpoint_id, n);
      return true;
    });
  }

  async function claim(): Promise<ClaimedRow[]> {
    const full = [...busy].filter(([, n]) => n >= deps.perEndpoint).map(([id]) => id);
    const now = clock.now();
    return store.transaction(async (tx) => {
      const { rows } =
        await sql<ClaimedRow>`select d.id, d.endpoint_id, d.message_id, d.attempts, m.type, m.payload, m.created_at,
                     e.url, e.secret, e.previous_secret, e.previous_secret_expires_at
              from notify_deliveries d
              join notify_endpoints e on e.id = d.endpoint_id
              join notify_messages m on m.id = d.message_id
              where d.id in (
                select id from (
                  select d2.id, row_number() over (partition by d2.endpoint_id order by d2.next_attempt_at, m2.seq) as n
                  from notify_deliveries d2 join notify_endpoints e2 on e2.id = d2.endpoint_id
                  join notify_messages m2 on m2.id = d2.message_id
                  where d2.status = 'pending' and d2.next_attempt_at <= ${now} and e2.enabled
                    and (e2.customer_id is null or e2.secret_shown_at is not null)
                    and not (d2.endpoint_id = any(${full}::text[]))
                    -- A first attempt goes only once the endpoint's earlier messages had theirs
                    -- (one still pending with no attempt is waiting or in flight): write order.
                    and (d2.attempts > 0 or not exists (
                      select 1 from notify_deliveries p join notify_messages pm on pm.id = p.message_id
                      where p.endpoint_id = d2.endpoint_id and p.status = 'pending' and p.attempts = 0
                        and pm.seq < m2.seq))
                ) ranked where n <= ${deps.perEndpoint}
              )
              -- Repeated on d: after waiting for another worker's lock, PostgreSQL re-checks only
              -- these conditions on the row's new version, so a row just leased elsewhere is skipped.
              and d.status = 'pending' and d.next_attempt_at <= ${now}
              order by d.next_attempt_at, m.seq
              limit ${CLAIM_LIMIT}
              for update of d skip locked`.execute(tx);
      // An endpoint with calls in flight takes only its free slots; the rest stay pending.
      const taken = withinFreeSlots(rows);
      if (taken.length > 0) {
        const until = new Date(now.getTime() + leaseMs);
        await sql`update notify_deliveries set next_attempt_at = ${until}
                  where id = any(${taken.map((r) => r.id)}::text[])`.execute(tx);
      }
      return taken;
    });
  }

  async function disable(row: ClaimedRow, reason: string): Promise<void> {
    const disabled = await store.query<{ id: string }>(
      `update notify_endpoints set enabled = false, disabled_reason = $2, disabled_at = $3, updated_at = $3
       where id = $1 and enabled returning id`,
      [row.endpoint_id, reason, clock.now()],
    );
    if (disabled.length === 0) return;
    log.warn({ endpoint: row.endpoint_id, url: row.url, reason }, 'webhook endpoint disabled');
    await deps.onDisabled({ id: row.endpoint_id, url: row.url, reason });
  }

  async function record(
    row: ClaimedRow,
    outcome: { status: number | null; error: string | null; retryAfter?: string; durationMs: number },
  ) {
    const { status, error, retryAfter } = outcome;
    const now = clock.now();
    const attempts = row.attempts + 1;
    const ok = error === null;
    const gone = status === 410;
    let next: Date | null = null;
    if (!ok && !gone) {
      const honoured = status === 429 || status === 503 ? retryAfterMs(retryAfter, now) : null;
      const delay = retryDelayMs(attempts, random);
      if (delay !== null) next = new Date(now.getTime() + (honoured ?? delay));
    }
    const state = ok ? 'succeeded' : next ? 'pending' : 'failed';
    const [endpoint] = await store.transaction(async (tx) => {
      await sql`update notify_deliveries set status = ${state}, attempts = ${attempts}, last_status_code = ${status},
                  last_error = ${error}, next_attempt_at = ${next}, last_attempt_at = ${now}, updated_at = ${now}
                where id = ${row.id}`.execute(tx);
      await sql`insert into notify_attempts (id, delivery_id, attempted_at, status_code, error, duration_ms)
                values (${newId('att')}, ${row.id}, ${now}, ${status}, ${error}, ${Math.round(outcome.durationMs)})`.execute(
        tx,
      );
      const { rows } = ok
        ? await sql<StreakRow>`update notify_endpoints set failure_streak = 0, failing_since = null
                               where id = ${row.endpoint_id} returning failure_streak, failing_since`.execute(
            tx,
          )
        : await sql<StreakRow>`update notify_endpoints set failure_streak = failure_streak + 1,
                                 failing_since = coalesce(failing_since, ${now})
                               where id = ${row.endpoint_id} returning failure_streak, failing_since`.execute(
            tx,
          );
      return rows;
    });
    if (ok) return;
    log.warn(
      { delivery: row.id, endpoint: row.endpoint_id, status, error, attempts },
      'webhook delivery failed',
    );
    if (gone) return disable(row, 'The endpoint answered 410 Gone.');
    if (
      endpoint?.failing_since &&
      endpoint.failure_streak >= deps.disableAfter.attempts &&
      now.getTime() - new Date(endpoint.failing_since).getTime() >= deps.disableAfter.ms
    ) {
      const days = Math.round(deps.disableAfter.ms / 86_400_000);
      await disable(
        row,
        `Every attempt failed for ${days} day(s) (${endpoint.failure_streak} attempts in a row); the last: ${error}.`,
      );
    }
  }

  async function attempt(row: ClaimedRow): Promise<void> {
    const now = clock.now();
    const secrets = [row.secret];
    if (
      row.previous_secret &&
      row.previous_secret_expires_at &&
      new Date(row.previous_secret_expires_at).getTime() > now.getTime()
    )
      secrets.push(row.previous_secret);
    const body = webhookBody(row.type, row.created_at, row.payload);
    let status: number | null = null;
    let error: string | null = null;
    let retryAfter: string | undefined;
    const started = performance.now();
    try {
      const headers = signWebhook(secrets, row.message_id, now, body);
      const response = await deps.post(row.url, headers, body);
      status = response.status;
      retryAfter = response.retryAfter;
      if (status < 200 || status >= 300) error = `HTTP ${status}`;
    } catch (e) {
      error =
        e instanceof OutboundRefusedError
          ? `refused: ${e.message}`
          : e instanceof Error && e.name === 'TimeoutError'
            ? `timed out after ${deps.timeoutMs} ms`
            : (e as Error).message;
    }
    const durationMs = performance.now() - started;
    deps.observe?.(row.endpoint_id, durationMs / 1000, error === null);
    await record(row, { status, error, retryAfter, durationMs });
  }

  function start(row: ClaimedRow): Promise<void> {
    busy.set(row.endpoint_id, (busy.get(row.endpoint_id) ?? 0) + 1);
    const run = attempt(row)
      .catch((error) => log.error({ err: error, delivery: row.id }, 'webhook attempt could not be recorded'))
      .finally(() => {
        const left = (busy.get(row.endpoint_id) ?? 1) - 1;
        if (left <= 0) busy.delete(row.endpoint_id);
        else busy.set(row.endpoint_id, left);
        running.delete(run);
        if (row.attempts === 0) deps.onFirstAttemptDone?.();
      });
    running.add(run);
    return run;
  }

  return {
    async pump() {
      const rows = await claim();
      const runs = rows.map(start);
      return { started: rows.length, done: Promise.all(runs).then(() => undefined) };
    },
    inFlight: () => running.size,
    async drain() {
      while (running.size > 0) await Promise.all([...running]);
    },
  };
}
