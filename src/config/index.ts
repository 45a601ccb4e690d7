export { defineConfig } from './define.ts';
export { ConfigError, DEFAULT_CONFIG_FILE, formatPath, loadConfig, resolveConfig } from './load.ts';
export type * from './schema.ts';
export { configSchema } from './schema.ts';
export type * from './types.ts';
