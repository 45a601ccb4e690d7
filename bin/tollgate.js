#!/usr/bin/env node
// The `tollgate` command. In the repository it runs the TypeScript source (src/); installed from
// npm, where there is no src/, it runs the compiled package (dist/).
//
// The floor is Node 22.19: undici (the HTTP client) needs it (zlib zstd). From 22.18 Node strips
// the types of the user's `tollgate.config.ts` by default; if that is turned off (for example
// NODE_OPTIONS=--no-experimental-strip-types), the command re-runs itself with it on.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';

const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 19)) {
  console.error(`tollgate needs Node.js 22.19 or newer (this is ${process.version}).`);
  process.exit(1);
}

const STRIP = '--experimental-strip-types';
if (!process.features.typescript && !process.execArgv.includes(STRIP)) {
  const flags = [STRIP, '--disable-warning=ExperimentalWarning'];
  const child = spawn(process.execPath, [...flags, ...process.execArgv, ...process.argv.slice(1)], {
    stdio: 'inherit',
  });
  // A supervisor's signal reaches this process only: pass it on, and exit as the child does.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => child.kill(signal));
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
} else {
  const source = new URL('../src/cli/main.ts', import.meta.url);
  await import(existsSync(source) ? source.href : new URL('../dist/cli/main.js', import.meta.url).href);
}
