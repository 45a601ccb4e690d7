import { ProblemError } from '../../http/problem.ts';
import type { AccessView } from '../../subscriptions/access.ts';
import { MAX_JSON_BODY } from '../compiled-config.ts';
import { quotaSpecOf } from '../quota-spec.ts';
import { readGatedBody } from '../request-body.ts';
import { quotaOutcome } from './request-quota.ts';
import type { RequestState, StepResult } from './types.ts';

/**
 * Step 4, on model-gated routes only: reads the JSON body (≤ 1 MB, decoded when compressed:
 * `request-body.ts`) to learn the requested `model`, refuses a model whose feature the plan lacks
 * (403) and a model whose hard token quota is used up (429). Checked before the call, so tokens
 * overshoot a hard quota by at most the tokens of the requests already in flight. The body then
 * goes upstream exactly as it was received.
 */
export function gateModel(request: RequestState): StepResult | Promise<StepResult> {
  if (request.route?.models == null || request.view === null) return undefined;
  return readModel(request, request.view);
}

async function readModel(request: RequestState, view: AccessView): Promise<StepResult> {
  const body = await readGatedBody(request.req, MAX_JSON_BODY);
  if (body instanceof ProblemError) return body;
  request.body = body.raw;
  request.decodedBody = body.decoded;
  let model: unknown;
  try {
    model = (JSON.parse(body.decoded.toString('utf8')) as { model?: unknown } | null)?.model;
  } catch {
    model = undefined;
  }
  if (typeof model !== 'string') return undefined;
  request.model = model;
  const feature = request.route?.models?.get(model);
  if (feature !== undefined && request.gw.gatesFeatures && !view.entitlements[feature]?.hasAccess) {
    return new ProblemError({
      status: 403,
      type: 'model-not-in-plan',
      title: 'Model not in plan',
      detail: `Your plan does not include the model "${model}" (feature "${feature}").`,
      extensions: { model, feature, upgradeUrl: view.upgradeUrl },
    });
  }
  for (const [featureKey, quotaView] of Object.entries(view.quotas)) {
    const meter = request.state.featureMeters.get(featureKey);
    // The gateway's token events carry the model at `$.model`.
    const modelFilter = meter?.filters.find((f) => f.path === '$.model')?.value;
    if (quotaView.soft || meter?.value == null || modelFilter !== model) continue;
    const spec = quotaSpecOf(request.gw, view.customer.id, quotaView);
    const used = await request.gw.counters.consume(quotaView.counterKey, 0, spec);
    if (used.remaining <= 0) {
      request.quotaView = quotaView;
      return quotaOutcome(request, { ...used, allowed: false });
    }
  }
  return undefined;
}
