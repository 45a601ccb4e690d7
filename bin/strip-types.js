// A module hook (registered by bin/strip-types-register.js, which bin/tollgate.js preloads) that
// loads `.ts` and `.mts` files with their types stripped, on a Node that does not do it itself: Node
// before 22.18, or one started with --no-experimental-strip-types. It strips as Node does (nodejs/node
// lib/internal/modules/typescript.js): amaro's `transformSync` in 'strip-only' mode, the file name
// as the sourceURL, nothing under node_modules, and amaro's message for syntax it cannot strip.
// `.ts` files load as ES modules in a CommonJS project too, as src/config/import-hooks.ts has them.
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import amaro from 'amaro';

/** @type {import('node:module').LoadHook} */
export async function load(url, context, nextLoad) {
  if (!url.startsWith('file:')) return nextLoad(url, context);
  const filename = fileURLToPath(url);
  if (!/\.m?ts$/.test(filename) || /[\\/]node_modules[\\/]/.test(filename)) return nextLoad(url, context);
  const source = await readFile(filename, 'utf8');
  let code;
  try {
    ({ code } = amaro.transformSync(source, { mode: 'strip-only', filename }));
  } catch (error) {
    // amaro throws { code: 'InvalidSyntax' | 'UnsupportedSyntax', message, … }, not an Error.
    throw new SyntaxError(error?.message ?? String(error));
  }
  return { format: 'module', source: `${code}\n\n//# sourceURL=${filename}`, shortCircuit: true };
}
