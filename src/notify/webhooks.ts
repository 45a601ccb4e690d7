import { type Kysely, sql } from 'kysely';
import { Gauge, Histogram, type Registry } from 'prom-client';
import type { Scheduler } from '../cluster/scheduler.ts';
import { createOutboundClient, type OutboundClient, type OutboundPolicy } from '../http/outbound.ts';
import { problems } from '../http/problem.ts';
import type { BaseDatabase, Store } from '../store/index.ts';
import type { Clock } from '../util/clock.ts';
import { newId } from '../util/ids.ts';
import type { Logger } from '../util/log.ts';
import {
  createDeliverer,
  DEFAULT_DISABLE_AFTER,
  DEFAULT_PER_ENDPOINT,
  DEFAULT_TIMEOUT_MS,
} from './delivery.ts';
import { type WebhookEndpoints, webhookEndpoints } from './endpoints.ts';
import { matchesType, WEBHOOK_EVENT_TYPES, type WebhookEventType } from './event-types.ts';
import {
  type Delivery,
  type DeliveryAttempt,
  type DeliveryFilter,
  readAttempts,
  readDeliveries,
  readEndpoint,
} from './repo.ts';
import { USER_AGENT } from './version.ts';

/**
 * Outgoing webhooks, signed per Standard Webhooks, delivered from an outbox. An event is written
 * (`notify_messages`, one `notify_deliveries` row per subscribed endpoint) in the same
 * transaction as the change it reports: `enqueue(tx, …)` inside the caller's transaction, so a
 * crash can lose neither the change nor its event, and an event never reports a change that
 * rolled back. Delivery (src/notify/delivery.ts) claims rows with row locks, so any number of
 * workers run; the same message id and body go out on every attempt, so receivers dedupe.
 *
 * Endpoints and their secrets: src/notify/endpoints.ts. This file holds the outbox writes, the
 * delivery job and the delivery log.
 */
export type { Delivery, DeliveryAttempt, WebhookEndpoint } from './repo.ts';

export interface WebhookService extends WebhookEndpoints {
  /**
   * Writes the event and a delivery per subscribed endpoint with `tx`, the transaction of the
   * change it reports. Returns the message id.
   */
  enqueue(
    tx: Kysely<BaseDatabase>,
    type: WebhookEventType,
    data: Record<string, unknown>,
    options?: { customerId?: string | null },
  ): Promise<string>;
  /** `enqueue` in a transaction of its own (for events that report no stored change). */
  emit(
    type: string,
    data: Record<string, unknown>,
    options?: { customerId?: string | null },
  ): Promise<string>;
  /** As `emit`, only if `claim` (run first, in the same transaction) returns true; else null. */
  emitOnce(
    type: string,
    data: Record<string, unknown>,
    claim: (tx: Kysely<BaseDatabase>) => Promise<boolean>,
    options?: { customerId?: string | null },
  ): Promise<string | null>;
  /** Queues a `webhook.test` event to one endpoint, whatever its filter; the message id. */
  sendTest(endpointId: string): Promise<string>;
  /** Another attempt of a delivery, now (any status). */
  replay(deliveryId: string, customerId?: string): Promise<Delivery>;
  /** Replays an endpoint's deliveries created in [from, to) (of one status, or all); the count. */
  replayRange(input: {
    endpointId: string;
    from: Date;
    to: Date;
    status?: Delivery['status'];
  }): Promise<number>;
  /** Attempts every delivery that is due now and waits for them; returns how many. */
  deliverDue(): Promise<number>;
  deliveries(filter?: DeliveryFilter): Promise<Delivery[]>;
  attempts(deliveryId: string): Promise<DeliveryAttempt[]>;
  registerMetrics(registry: Registry): void;
  /**
   * Delivers from now on as a job of `scheduler` (every `everyMs`, and right after an event is
   * written or a delivery is replayed); not for the CLI, whose commands only write.
   */
  start(scheduler: Pick<Scheduler, 'add' | 'runSoon'>, everyMs?: number): void;
  stop(): Promise<void>;
}

export interface WebhookDeps {
  store: Store;
  clock: Clock;
  log: Logger;
  /** Which targets outgoing calls may reach; default: public https addresses only. */
  policy?: () => OutboundPolicy;
  outbound?: OutboundClient;
  /** One call's timeout (default 15 s). */
  timeoutMs?: number;
  /** Calls in flight per endpoint and worker (default 4), at most one of them a first attempt. */
  perEndpoint?: number;
  disableAfter?: { ms: number; attempts: number };
}

/** The delivery job's name on the scheduler. */
const DELIVERY_JOB = 'webhooks';

/**
 * One pending delivery of a new message per enabled endpoint that takes its type (and, for a
 * customer's message, per endpoint of that customer or of the operator). Read in the caller's
 * transaction: an endpoint created or disabled concurrently is seen consistently. Returns how many
 * endpoints were considered, as the caller's wake-up hint.
 */
async function queueDeliveries(
  tx: Kysely<BaseDatabase>,
  messageId: string,
  type: string,
  customerId: string | null,
  now: Date,
): Promise<number> {
  const { rows } = await sql<{ id: string; event_types: string[] | string; customer_id: string | null }>`
    select id, event_types, customer_id from notify_endpoints
    where enabled and (customer_id is null or customer_id = ${customerId})`.execute(tx);
  for (const e of rows) {
    const types = typeof e.event_types === 'string' ? JSON.parse(e.event_types) : e.event_types;
    if (!matchesType(types, type)) continue;
    await sql`insert into notify_deliveries (id, endpoint_id, message_id, status, next_attempt_at, created_at, updated_at)
              values (${newId('dlv')}, ${e.id}, ${messageId}, 'pending', ${now}, ${now}, ${now})`.execute(tx);
  }
  return rows.length;
}

/** The delivery latency histogram (returned: the deliverer observes it) and the backlog gauge. */
function registerWebhookMetrics(registry: Registry, store: Store): Histogram<'endpoint' | 'outcome'> {
  const latency = new Histogram({
    name: 'tollgate_webhook_delivery_seconds',
    help: 'Webhook delivery attempts: time to the receiver answer, per endpoint and outcome.',
    labelNames: ['endpoint', 'outcome'],
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 30],
    registers: [registry],
  });
  new Gauge({
    name: 'tollgate_webhook_deliveries',
    help: 'Webhook deliveries per endpoint and status (pending = still to be delivered or retried; failed = gave up).',
    labelNames: ['endpoint', 'status'],
    registers: [registry],
    async collect() {
      const rows = await store.query<{ endpoint_id: string; status: string; n: number }>(
        `select endpoint_id, status, count(*)::int as n from notify_deliveries
         where status in ('pending', 'failed') group by endpoint_id, status`,
      );
      this.reset();
      for (const r of rows) this.set({ endpoint: r.endpoint_id, status: r.status }, r.n);
    },
  });
  return latency;
}

// A module factory: the service is one closure over its scheduler, deliverer and metrics, the
// codebase's module shape; its ideas that stand alone are the helpers above.
export function createWebhookService(deps: WebhookDeps): WebhookService {
  const { store, clock, log } = deps;
  const policy = deps.policy ?? (() => ({ allowHosts: [], requireHttps: true }));
  const outbound = deps.outbound ?? createOutboundClient(policy);
  const timeoutMs = deps.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  let scheduler: Pick<Scheduler, 'add' | 'runSoon'> | null = null;
  let stopped = false;
  let pumping: Promise<unknown> | null = null;
  let latency: Histogram<'endpoint' | 'outcome'> | null = null;
  const { mustEndpoint, ...endpoints } = webhookEndpoints({ store, clock, policy, onDue: () => kick() });

  const deliverer = createDeliverer({
    store,
    clock,
    log,
    timeoutMs,
    perEndpoint: deps.perEndpoint ?? DEFAULT_PER_ENDPOINT,
    disableAfter: deps.disableAfter ?? DEFAULT_DISABLE_AFTER,
    async post(url, headers, body) {
      const response = await outbound.post(url, {
        headers: { 'content-type': 'application/json', 'user-agent': USER_AGENT, ...headers },
        body,
        timeoutMs,
      });
      const retryAfter = response.headers['retry-after'];
      return { status: response.status, retryAfter: Array.isArray(retryAfter) ? retryAfter[0] : retryAfter };
    },
    async onDisabled(endpoint) {
      const full = await readEndpoint(store, endpoint.id);
      await service.emit('endpoint.disabled', {
        endpoint: {
          id: endpoint.id,
          url: endpoint.url,
          disabledReason: endpoint.reason,
          disabledAt: full?.disabledAt,
        },
      });
    },
    // The endpoint's next message in write order is due as soon as this one's first attempt ends.
    onFirstAttemptDone: () => kick(),
    observe(endpointId, seconds, ok) {
      latency?.observe({ endpoint: endpointId, outcome: ok ? 'succeeded' : 'failed' }, seconds);
    },
  });

  /**
   * The delivery job: one claim-and-start at a time per process; it does not wait for the calls
   * (each endpoint's run their course on their own). Its failures are the scheduler's to log and
   * retry with backoff.
   */
  async function pumpOnce(): Promise<void> {
    if (pumping || stopped) return;
    pumping = deliverer.pump().finally(() => {
      pumping = null;
    });
    await pumping;
  }

  /** Deliveries are due now: the delivery job runs within `delayMs` (once started). */
  function kick(delayMs = 0): void {
    scheduler?.runSoon(DELIVERY_JOB, delayMs);
  }

  const service: WebhookService = {
    ...endpoints,

    async enqueue(tx, type, data, options = {}) {
      if (!(WEBHOOK_EVENT_TYPES as string[]).includes(type)) {
        // A type missing from the published contract must not fail the change that emits it.
        log.error({ type }, 'webhook event type not in src/notify/event-types.ts: not sent');
        return '';
      }
      const messageId = newId('msg');
      const now = clock.now();
      const customerId = options.customerId ?? null;
      await sql`insert into notify_messages (id, type, payload, customer_id, created_at)
                values (${messageId}, ${type}, ${JSON.stringify(data)}, ${customerId}, ${now})`.execute(tx);
      const queued = await queueDeliveries(tx, messageId, type, customerId, now);
      // After the caller's commit the loop picks it up; a kick shortens the wait.
      if (queued > 0) kick(20);
      return messageId;
    },

    async emit(type, data, options) {
      return (await service.emitOnce(type, data, async () => true, options)) as string;
    },

    async emitOnce(type, data, claim, options) {
      return store.transaction(async (tx) => {
        if (!(await claim(tx))) return null;
        return service.enqueue(tx, type as WebhookEventType, data, options);
      });
    },

    async sendTest(endpointId) {
      const endpoint = await mustEndpoint(endpointId);
      const messageId = newId('msg');
      const now = clock.now();
      const data = { endpointId, message: 'A test event sent from Tollgate.' };
      await store.transaction(async (tx) => {
        await sql`insert into notify_messages (id, type, payload, customer_id, created_at)
                  values (${messageId}, 'webhook.test', ${JSON.stringify(data)}, ${endpoint.customerId}, ${now})`.execute(
          tx,
        );
        await sql`insert into notify_deliveries (id, endpoint_id, message_id, status, next_attempt_at, created_at, updated_at)
                  values (${newId('dlv')}, ${endpointId}, ${messageId}, 'pending', ${now}, ${now}, ${now})`.execute(
          tx,
        );
      });
      kick();
      return messageId;
    },

    async replay(deliveryId, customerId) {
      const rows = await store.query<{ id: string }>(
        `update notify_deliveries d set status = 'pending', next_attempt_at = $2, updated_at = $2
         from notify_endpoints e where d.id = $1 and e.id = d.endpoint_id and ($3::text is null or e.customer_id = $3)
         returning d.id`,
        [deliveryId, clock.now(), customerId ?? null],
      );
      if (rows.length === 0) throw problems.notFound(`No delivery ${deliveryId}.`);
      kick();
      const [delivery] = await readDeliveries(store, { id: deliveryId });
      return delivery as Delivery;
    },

    async replayRange(input) {
      await mustEndpoint(input.endpointId);
      if (!(input.from.getTime() < input.to.getTime()))
        throw problems.validation('from must be before to', [{ path: 'from', message: 'must be before to' }]);
      const rows = await store.query(
        `update notify_deliveries set status = 'pending', next_attempt_at = $4, updated_at = $4
         where endpoint_id = $1 and created_at >= $2 and created_at < $3 and ($5::text is null or status = $5) returning id`,
        [input.endpointId, input.from, input.to, clock.now(), input.status ?? null],
      );
      kick();
      return rows.length;
    },

    async deliverDue() {
      while (pumping) await pumping.catch(() => undefined);
      let total = 0;
      for (;;) {
        const { started, done } = await deliverer.pump();
        await done;
        total += started;
        if (started === 0) return total;
        // A claim takes a few per endpoint; take the rest of what is due now.
        if (
          !(
            await store.query(
              `select 1 from notify_deliveries where status = 'pending' and next_attempt_at <= $1 limit 1`,
              [clock.now()],
            )
          ).length
        )
          return total;
      }
    },

    deliveries: (filter = {}) => readDeliveries(store, filter),
    attempts: (deliveryId) => readAttempts(store, deliveryId),

    registerMetrics(registry) {
      latency = registerWebhookMetrics(registry, store);
    },

    start(jobs, everyMs = 500) {
      if (scheduler) return;
      scheduler = jobs;
      jobs.add({ name: DELIVERY_JOB, everyMs, runAtStart: true, run: pumpOnce });
    },

    async stop() {
      stopped = true;
      scheduler = null;
      while (pumping) await pumping.catch(() => undefined);
      await deliverer.drain();
      if (!deps.outbound) await outbound.close();
    },
  };
  return service;
}
