/**
 * What `Tollgate.stop()` undoes, in reverse order of start. Also used when start-up fails half
 * way: everything opened so far is closed, so a failed start leaves no listener or connection.
 */
export interface StopList {
  push(stop: () => Promise<unknown> | unknown): void;
  /** Runs every stop in reverse order; one that throws does not keep the others from running. */
  stopAll(): Promise<void>;
}

export function stopList(onError: (error: unknown) => void): StopList {
  const stops: (() => Promise<unknown> | unknown)[] = [];
  return {
    push: (stop) => void stops.push(stop),
    async stopAll() {
      while (stops.length > 0) {
        const stop = stops.pop() as () => Promise<unknown> | unknown;
        try {
          await stop();
        } catch (error) {
          onError(error);
        }
      }
    },
  };
}
