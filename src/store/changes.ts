import { EventEmitter } from 'node:events';

/**
 * Change feed: tells every gateway node that cached state changed (a key revoked, a plan or
 * subscription changed, a customer suspended), so caches are invalidated instead of polled.
 * Embedded: in process. Scale-out: PostgreSQL LISTEN/NOTIFY (see `pgChangeFeed`).
 */
export type ChangeTopic = 'keys' | 'subscriptions' | 'catalog' | 'customers' | 'credits' | 'meters';

export interface Change {
  topic: ChangeTopic;
  /** The id of what changed (key id, subscription id, customer id …), or '*' for everything. */
  id: string;
}

export interface ChangeFeed {
  publish(change: Change): Promise<void>;
  subscribe(listener: (change: Change) => void): () => void;
  close(): Promise<void>;
}

export function memoryChangeFeed(): ChangeFeed {
  const emitter = new EventEmitter();
  emitter.setMaxListeners(0);
  return {
    async publish(change) {
      emitter.emit('change', change);
    },
    subscribe(listener) {
      emitter.on('change', listener);
      return () => emitter.off('change', listener);
    },
    async close() {
      emitter.removeAllListeners();
    },
  };
}
