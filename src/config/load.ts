import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { installConfigImportHooks } from './import-hooks.ts';
import { configSchema, type ResolvedConfig } from './schema.ts';
import { validateReferences } from './validate.ts';

export const DEFAULT_CONFIG_FILE = 'tollgate.config.ts';

/** A configuration problem, with the file and the path of the bad field in every line. */
export class ConfigError extends Error {
  readonly file: string;
  readonly issues: { path: string; message: string }[];
  constructor(file: string, issues: { path: string; message: string }[]) {
    super(
      `${file} is not valid:\n${issues.map((i) => `  - ${i.path || '(root)'}: ${i.message}`).join('\n')}`,
    );
    this.name = 'ConfigError';
    this.file = file;
    this.issues = issues;
  }
}

export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out ? `.${String(part)}` : String(part);
  }
  return out;
}

function issuesOf(error: z.ZodError): { path: string; message: string }[] {
  // zod reports unknown keys at their parent object; name each key's own path instead, so a
  // typo such as `plans[0].ratecards` points at itself.
  return error.issues.flatMap((issue) =>
    issue.code === 'unrecognized_keys'
      ? issue.keys.map((key) => ({
          path: formatPath([...issue.path, key]) || JSON.stringify(key),
          message: `unknown setting "${key}" (check its spelling and where it is nested)`,
        }))
      : [{ path: formatPath(issue.path), message: issue.message }],
  );
}

/** Validates an already-imported config object. `file` only labels errors; `baseDir` resolves paths. */
export function resolveConfig(input: unknown, file: string, baseDir: string): ResolvedConfig {
  const parsed = configSchema.safeParse(input);
  if (!parsed.success) throw new ConfigError(file, issuesOf(parsed.error));
  const config: ResolvedConfig = { ...parsed.data, baseDir };
  const refIssues = validateReferences(config);
  if (refIssues.length > 0) throw new ConfigError(file, refIssues);
  if (config.openapi) {
    const path = isAbsolute(config.openapi) ? config.openapi : resolve(baseDir, config.openapi);
    if (!existsSync(path))
      throw new ConfigError(file, [{ path: 'openapi', message: `file not found: ${path}` }]);
    const text = readFileSync(path, 'utf8');
    try {
      config.openapiDocument = (path.endsWith('.json') ? JSON.parse(text) : parseYaml(text)) as Record<
        string,
        unknown
      >;
    } catch (error) {
      throw new ConfigError(file, [
        { path: 'openapi', message: `cannot parse ${path}: ${(error as Error).message}` },
      ]);
    }
  }
  return config;
}

/**
 * Imports `tollgate.config.ts` (Node strips the types, or bin/strip-types.js on a Node that does
 * not) and validates it.
 */
export async function loadConfig(
  file = DEFAULT_CONFIG_FILE,
  options: { fresh?: boolean } = {},
): Promise<ResolvedConfig> {
  const path = resolve(file);
  if (!existsSync(path)) {
    throw new ConfigError(file, [
      { path: '', message: `no config file at ${path} (create one with defineConfig)` },
    ]);
  }
  const url = pathToFileURL(path);
  // A query string makes Node import a fresh copy: how dev mode reloads an edited config.
  if (options.fresh) url.searchParams.set('t', String(Date.now()));
  installConfigImportHooks();
  let mod: { default?: unknown };
  try {
    mod = (await import(url.href)) as { default?: unknown };
  } catch (error) {
    throw new ConfigError(file, [{ path: '', message: `cannot load: ${(error as Error).message}` }]);
  }
  if (mod.default === undefined) {
    throw new ConfigError(file, [
      { path: '', message: 'the file must `export default defineConfig({ … })`' },
    ]);
  }
  return resolveConfig(mod.default, file, dirname(path));
}
