#!/usr/bin/env node
// The `tollgate` command. In the repository it runs the TypeScript source (src/); installed from
// npm, where there is no src/, it runs the compiled package (dist/).
//
// It runs on Node 22.0 and newer. From 22.18 Node strips the types of the user's
// `tollgate.config.ts` (and of src/) by default. On an older Node, or one where that is turned off
// (NODE_OPTIONS=--no-experimental-strip-types), the command re-runs itself with a module hook that
// strips them (bin/strip-types.js) preloaded.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';

const [major] = process.versions.node.split('.').map(Number);
if (major < 22) {
  console.error(`tollgate needs Node.js 22 or newer (this is ${process.version}).`);
  process.exit(1);
}

const PRELOAD = `--import=${new URL('./strip-types-register.js', import.meta.url).href}`;
if (!process.features.typescript && !process.execArgv.includes(PRELOAD)) {
  const child = spawn(process.execPath, [PRELOAD, ...process.execArgv, ...process.argv.slice(1)], {
    stdio: 'inherit',
  });
  // A supervisor's signal reaches this process only: pass it on, and exit as the child does.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => child.kill(signal));
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
} else {
  const source = new URL('../src/cli/main.ts', import.meta.url);
  await import(existsSync(source) ? source.href : new URL('../dist/cli/main.js', import.meta.url).href);
}
