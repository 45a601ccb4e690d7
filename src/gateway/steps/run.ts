import type { ProblemError } from '../../http/problem.ts';
import { isPromise } from '../compiled-config.ts';
import { ANSWERED, type RequestState, type Step, type StepResult } from './types.ts';

export interface StepEnds {
  /** Every step said "go on". */
  done(request: RequestState): void;
  /** A step returned a problem to answer. */
  problem(request: RequestState, problem: ProblemError): void;
}

/**
 * Runs `steps` from `from` in order. Synchronous while the steps are (the common, cached request
 * allocates no promise); from the first step that waits, the rest run after it.
 */
export function runSteps(
  steps: readonly Step[],
  request: RequestState,
  ends: StepEnds,
  from = 0,
): Promise<void> | undefined {
  for (let i = from; i < steps.length; i++) {
    const result = (steps[i] as Step)(request);
    if (result === undefined) continue;
    if (isPromise(result)) {
      return result.then((settled) =>
        settled === undefined ? runSteps(steps, request, ends, i + 1) : stop(request, settled, ends),
      );
    }
    return stop(request, result, ends);
  }
  ends.done(request);
  return undefined;
}

function stop(request: RequestState, result: Exclude<StepResult, undefined>, ends: StepEnds): undefined {
  if (result !== ANSWERED) ends.problem(request, result);
  return undefined;
}
