import { readFileSync } from 'node:fs';
import * as nodeModule from 'node:module';

/**
 * Hooks for importing a user's `tollgate.config.ts` (and the TypeScript files it imports):
 *
 * - `import … from 'tollgate'` resolves to the copy of Tollgate that is loading the file: the
 *   compiled package when installed, `src/` in the repository (whose package `exports` point at
 *   `dist/`, which a source checkout need not have built), and the same module instances either
 *   way (one `ProblemError` class).
 * - The config is an ES module (`export default defineConfig(…)`) even in a CommonJS project:
 *   `npm init -y` writes `"type": "commonjs"`, under which Node would load a `.ts` file as
 *   CommonJS and fail on its first `import`. A `.ts` file outside node_modules that Node would
 *   load as CommonJS is loaded as an ES module instead (`.cts` files keep their CommonJS).
 *
 * `module.registerHooks` exists from Node 22.15 (the package runs on 22.0 and newer); without it,
 * the ordinary resolution applies. On a Node that does not strip types itself (before 22.18, or
 * --no-experimental-strip-types), bin/strip-types.js loads `.ts` files, as ES modules: a load hook
 * here would get no source for them from Node's own loader (ERR_INVALID_RETURN_PROPERTY_VALUE).
 */
const SELF = new URL(`../index${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url).href;

let registered = false;

export function installConfigImportHooks(): void {
  if (registered) return;
  registered = true;
  const register = (nodeModule as { registerHooks?: typeof nodeModule.registerHooks }).registerHooks;
  if (typeof register !== 'function') return;
  const load: nodeModule.LoadHookSync = (url, context, next) => {
    const loaded = next(url, context);
    if (loaded.format !== 'commonjs-typescript' || !isProjectTypeScript(url)) return loaded;
    return { ...loaded, format: 'module-typescript', source: loaded.source ?? readFileSync(new URL(url)) };
  };
  register({
    resolve(specifier, context, next) {
      if (specifier === 'tollgate') return { url: SELF, shortCircuit: true };
      return next(specifier, context);
    },
    ...(process.features.typescript ? { load } : {}),
  });
}

function isProjectTypeScript(url: string): boolean {
  if (!url.startsWith('file:')) return false;
  const path = new URL(url).pathname;
  return path.endsWith('.ts') && !path.includes('/node_modules/');
}
