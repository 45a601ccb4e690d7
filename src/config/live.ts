import type { ResolvedConfig } from './schema.ts';

/**
 * The config as a value that changes: `tollgate dev` replaces it when the file is edited, and
 * every module must see the new one on its next read. Two ways to read it:
 *
 * - `current()` for code written against a getter (`config: () => ResolvedConfig`);
 * - `view`, an object typed as `ResolvedConfig` whose top-level fields always read the config in
 *   force. Modules whose options take a plain `ResolvedConfig` get the view and stay live as long
 *   as they read from the top (`config.features.find(…)` inside a function); a value copied out
 *   at construction (`const prefix = config.keys.prefix`) keeps the start-up value, so modules
 *   read settings where they use them.
 *
 * Before this, billing's meter port, the billing routes and `KeysService` held the start-up
 * object: after a reload that added a feature, its usage was billed as 0.
 */
export interface LiveConfig {
  current(): ResolvedConfig;
  readonly view: ResolvedConfig;
  /** Called after every `replace`, with the new and the previous config. Returns an unsubscribe. */
  onChange(listener: (next: ResolvedConfig, previous: ResolvedConfig) => void): () => void;
}

export interface ConfigSource extends LiveConfig {
  /** Puts `next` in force for every reader, then tells the listeners. */
  replace(next: ResolvedConfig): void;
}

export function liveConfig(initial: ResolvedConfig): ConfigSource {
  let config = initial;
  const listeners = new Set<(next: ResolvedConfig, previous: ResolvedConfig) => void>();
  const current = () => config;
  // A Proxy rather than getters per field: the schema grows, and a field added to it must not
  // silently read the start-up value here. Reads, `in`, key listing and spreading all forward.
  const view = new Proxy(initial, {
    get: (_target, key) => Reflect.get(config, key),
    has: (_target, key) => Reflect.has(config, key),
    ownKeys: () => Reflect.ownKeys(config),
    getOwnPropertyDescriptor: (_target, key) => {
      const descriptor = Reflect.getOwnPropertyDescriptor(config, key);
      // The target's own descriptor must stay configurable for the Proxy invariants to hold.
      return descriptor ? { ...descriptor, configurable: true } : undefined;
    },
    set: () => false,
    defineProperty: () => false,
    deleteProperty: () => false,
  });
  return {
    current,
    view,
    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    replace(next) {
      const previous = config;
      config = next;
      for (const listener of listeners) listener(next, previous);
    },
  };
}
