import type { UsageEvent, UsageLog } from '../metering/events.ts';

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
  #waiters: { resolve: () => void; reject: (error: unknown) => void }[] = [];
  #scheduled = false;

  constructor(inner: UsageLog) {
    this.inner = inner;
  }

  append(events: readonly UsageEvent[]): Promise<void> {
    for (const event of events) this.#events.push(event);
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => this.#flush());
    }
    return new Promise<void>((resolve, reject) => {
      this.#waiters.push({ resolve, reject });
    });
  }

  #flush(): void {
    const events = this.#events;
    const waiters = this.#waiters;
    this.#events = [];
    this.#waiters = [];
    this.#scheduled = false;
    const settle = (error: unknown) => {
      for (const w of waiters) {
        if (error === undefined) w.resolve();
        else w.reject(error);
      }
    };
    try {
      const result = this.inner.append(events);
      if (result !== undefined && typeof (result as Promise<void>).then === 'function') {
        (result as Promise<void>).then(
          () => settle(undefined),
          (error: unknown) => settle(error ?? new Error('usage log append failed')),
        );
      } else {
        settle(undefined);
      }
    } catch (error) {
      settle(error ?? new Error('usage log append failed'));
    }
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
