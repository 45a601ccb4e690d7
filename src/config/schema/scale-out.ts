import { z } from 'zod';
import { parseByteSize } from '../../util/bytes.ts';
import { isoDurationMs } from '../../util/duration.ts';

/**
 * Scale-out backends (used when started with --redis / --nats / a postgres:// database).
 * See deploy/README.md for what each setting means in operation.
 */
export const scaleOutSchema = z
  .strictObject({
    /**
     * Redis unreachable: 'open' = each gateway node enforces limits on its own counters
     * (limits hold per node, not across nodes); 'closed' = rate-limited/quota'd requests get 503.
     */
    onRedisError: z.enum(['open', 'closed']).default('open'),
    /**
     * How long one Redis command may take before it counts as Redis being unreachable (and
     * `onRedisError` applies). Raise it on a machine whose Redis answers slowly under load.
     */
    redisCommandTimeoutMs: z.number().int().positive().default(500),
    /** Prefix of every Redis key (several installations can share one Redis). */
    redisKeyPrefix: z.string().min(1).default('tollgate:'),
    /** JetStream stream of usage events, and its subject prefix. */
    usageStream: z
      .string()
      .regex(/^[A-Za-z0-9_-]+$/, 'use letters, digits, "_" and "-" (e.g. "TOLLGATE_USAGE")')
      .default('TOLLGATE_USAGE'),
    usageSubject: z
      .string()
      .regex(/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/, 'must be dot-separated tokens such as "tollgate.usage"')
      .default('tollgate.usage'),
    /**
     * How long a gateway waits for JetStream to acknowledge usage (e.g. during a NATS restart)
     * before answering 503 problem+json with Retry-After (a response already streaming is cut
     * off instead); either way the call is not billed and its quota is given back.
     */
    usageAckTimeoutMs: z.number().int().positive().default(15_000),
    /**
     * Size and retention of the usage stream on each NATS server (applied to an existing stream
     * at start-up). The stream is a buffer in front of metering: see deploy/README.md for the
     * disk budget. `/readyz` warns, and `tollgate_usage_stream_pressure` rises, before the limit.
     */
    usageStreamLimits: z
      .strictObject({
        /**
         * Largest size on disk per replica: bytes, or a size such as "10GiB". Unset: 10 GiB, or
         * less to fit the JetStream store (see src/metering/usage-stream-size.ts).
         */
        maxBytes: z
          .union([z.number(), z.string()])
          .refine(
            (v) => parseByteSize(v) !== null,
            'must be a size such as "10GiB", "500MB" or a number of bytes',
          )
          .optional(),
        /** How long events stay (their replay window): a fixed ISO 8601 duration such as "P7D". */
        maxAge: z
          .string()
          .refine(
            (v) => isoDurationMs(v) !== null,
            'must be a fixed ISO 8601 duration such as "P7D" or "PT12H" (no months or years)',
          )
          .default('P7D'),
        /** At the size limit: 'old' drops the oldest events, 'new' refuses new ones (gateways answer 503). */
        discard: z.enum(['old', 'new']).default('old'),
        /** Share of `maxBytes` at risk (see deploy/README.md) at which /readyz warns. */
        warnAt: z.number().gt(0).lt(1).default(0.8),
      })
      .prefault({}),
    /** PostgreSQL NOTIFY channel of the change feed. */
    changeChannel: z
      .string()
      .regex(/^[a-z_][a-z0-9_]{0,62}$/, 'must be a lowercase SQL identifier such as "tollgate_changes"')
      .default('tollgate_changes'),
  })
  .prefault({});
