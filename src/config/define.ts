import type { TollgateConfigInput } from './schema.ts';

/** Typed helper for `tollgate.config.ts`; it returns its argument unchanged. */
export function defineConfig(config: TollgateConfigInput): TollgateConfigInput {
  return config;
}
