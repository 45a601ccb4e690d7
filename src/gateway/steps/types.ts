import type { IncomingMessage } from 'node:http';
import type { ProblemError } from '../../http/problem.ts';
import type { KeyVerifier, VerifiedKey } from '../../keys/model.ts';
import type {
  CounterStore,
  QuotaResult,
  QuotaSpec,
  RateLimitResult,
  RateLimitSpec,
} from '../../ratelimit/types.ts';
import type { AccessResolver, AccessView, QuotaView } from '../../subscriptions/access.ts';
import type { GatewayState } from '../compiled-config.ts';
import type { CreditHold, GatewayCredits } from '../credits.ts';
import type { GatewayContext } from '../policy-context.ts';
import type { CompiledRoute } from '../router.ts';

/**
 * The gateway's request steps (Hono's `compose` is the model, without the `next` callback): each
 * step reads and fills a small per-request state and returns "go on" (undefined), a problem to
 * answer, or ANSWERED when it answered itself (an inbound policy's Response). A step returns a
 * promise only when it had to wait, so a request whose data is cached runs every step
 * synchronously (see `run.ts`).
 */

/** The step answered the request itself. */
export const ANSWERED = 1;

export type StepResult = undefined | ProblemError | typeof ANSWERED;

export type Step = (request: RequestState) => StepResult | Promise<StepResult>;

/** What steps use of the gateway: its backends and its access resolver. */
export interface GatewayServices {
  readonly verifier: KeyVerifier;
  readonly access: AccessResolver;
  readonly counters: CounterStore;
  readonly quotaSeed: (customerId: string, quota: QuotaView) => Promise<number>;
  readonly credits: GatewayCredits | null;
  /** False with the fallback resolver (no subscriptions module): routes are not gated by feature. */
  readonly gatesFeatures: boolean;
}

/** What the steps know of one request; `Exchange` holds it, tests build it by hand. */
export interface RequestState {
  readonly req: IncomingMessage;
  readonly state: GatewayState;
  readonly gw: GatewayServices;
  /** Normalised path (matched and forwarded) and the raw query. */
  path: string;
  search: string;
  route: CompiledRoute | null;
  params: Record<string, string> | null;
  key: VerifiedKey | null;
  /** The header that carried the key (not forwarded upstream). */
  authHeader: string;
  view: AccessView | null;
  rateSpec: RateLimitSpec | null;
  rate: RateLimitResult | null;
  quotaView: QuotaView | null;
  quotaSpec: QuotaSpec | null;
  quota: QuotaResult | null;
  /** The request body as received and decoded, when a model-gated route read it. */
  body: Buffer | null;
  decodedBody: Buffer | null;
  model: string | null;
  creditHold: CreditHold | null;
  /** `ctx` of policies (built on first use). */
  context(): GatewayContext;
  /** Answers with an inbound policy's Response. */
  respond(response: Response): Promise<void>;
}
