import type { UsageEvent, UsageLog } from '../metering/events.ts';

/** Told once the events it handed to {@link BatchingUsageLog.enqueue} are in the log (or could not be). */
export interface AppendWaiter {
  appended(error: unknown): void;
}

class PromiseWaiter implements AppendWaiter {
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
  constructor(resolve: () => void, reject: (error: unknown) => void) {
    this.resolve = resolve;
    this.reject = reject;
  }
  appended(error: unknown): void {
    if (error === undefined) this.resolve();
    else this.reject(error);
  }
}

/**
 * Group commit in front of a UsageLog: the events of every response that completes in the same
 * event-loop turn are appended with one call (one write(2) for the embedded log, one publish
 * batch for JetStream) at the end of the turn. Each response still waits for its events to be
 * appended before its last byte is sent, so durability is unchanged; under load the log sees a
 * few large appends instead of one per request.
 */
export class BatchingUsageLog implements UsageLog {
  readonly inner: UsageLog;
  #events: UsageEvent[] = [];
  #waiters: AppendWaiter[] = [];
  #scheduled = false;
  readonly #flushNow = () => this.#flush();

  constructor(inner: UsageLog) {
    this.inner = inner;
  }

  append(events: readonly UsageEvent[]): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.enqueue(events, new PromiseWaiter(resolve, reject));
    });
  }

  /**
   * The request path's append: `waiter.appended()` is called (never synchronously) once the
   * events are in the log. No promise per request.
   */
  enqueue(events: readonly UsageEvent[], waiter: AppendWaiter): void {
    for (let i = 0; i < events.length; i++) this.#events.push(events[i] as UsageEvent);
    this.#waiters.push(waiter);
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(this.#flushNow);
    }
  }

  #flush(): void {
    const events = this.#events;
    const waiters = this.#waiters;
    this.#events = [];
    this.#waiters = [];
    this.#scheduled = false;
    const settle = (error: unknown) => {
      for (let i = 0; i < waiters.length; i++) {
        try {
          (waiters[i] as AppendWaiter).appended(error);
        } catch (thrown) {
          // One response's failure must not leave the others of the batch waiting.
          queueMicrotask(() => {
            throw thrown;
          });
        }
      }
    };
    let result: void | Promise<void>;
    try {
      result = this.inner.append(events);
    } catch (error) {
      settle(error ?? new Error('usage log append failed'));
      return;
    }
    if (result !== undefined && typeof (result as Promise<void>).then === 'function') {
      (result as Promise<void>).then(
        () => settle(undefined),
        (error: unknown) => settle(error ?? new Error('usage log append failed')),
      );
    } else {
      settle(undefined);
    }
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
