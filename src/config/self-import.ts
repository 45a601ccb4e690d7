import * as nodeModule from 'node:module';

/**
 * `import … from 'tollgate'` in a user's `tollgate.config.ts` resolves to the copy of Tollgate
 * that is loading the file: the compiled package when installed, `src/` in the repository (whose
 * package `exports` point at `dist/`, which a source checkout need not have built), and the same
 * module instances either way (one `ProblemError` class). `module.registerHooks` exists from
 * Node 22.15 (the package needs 22.19); without it, the ordinary resolution of an installed
 * package applies.
 */
const SELF = new URL(`../index${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url).href;

let registered = false;

export function resolveTollgateImportsToThisCopy(): void {
  if (registered) return;
  registered = true;
  const register = (nodeModule as { registerHooks?: typeof nodeModule.registerHooks }).registerHooks;
  if (typeof register !== 'function') return;
  register({
    resolve(specifier, context, next) {
      if (specifier === 'tollgate') return { url: SELF, shortCircuit: true };
      return next(specifier, context);
    },
  });
}
